package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		live, headroom uint64
		want           int
	}{
		{0, 32 * mib, 100},          // nothing measured yet: Go's default
		{8 * mib, 32 * mib, 100},    // small heaps keep the default
		{32 * mib, 32 * mib, 100},   // the crossover
		{64 * mib, 32 * mib, 50},    // growth is held at the headroom
		{220 * mib, 32 * mib, 14},   // a million znodes
		{1024 * mib, 32 * mib, 10},  // the floor: never collect constantly
		{220 * mib, 256 * mib, 100}, // a large headroom is GOGC 100 again
	}
	for _, tc := range cases {
		if got := gcPercentFor(tc.live, tc.headroom); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", tc.live/mib, tc.headroom/mib, got, tc.want)
		}
	}
}

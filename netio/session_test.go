package netio

import (
	"fmt"
	"testing"
)

// TestSessionPassword: passwords are ZooKeeper's, byte for byte, so that
// sessions imported from Apache ZooKeeper reconnect with the password
// their clients hold.
func TestSessionPassword(t *testing.T) {
	// From java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16]) on
	// OpenJDK 17, as ZooKeeperServer.generatePasswd does.
	for id, want := range map[int64]string{
		0:                  "f22acd4a97e69d6d20a49bb638eadb38",
		1:                  "054cc74a37327db215e702e20c73f005",
		0x100000abcdef0001: "76b39f6d54c3bc4f6ebe2fdff1198ecf",
		-1:                 "20f62cb5648dc2d771471c8a2486a9ee",
	} {
		if got := fmt.Sprintf("%x", SessionPassword(id)); got != want {
			t.Errorf("SessionPassword(%#x) = %s, want %s", id, got, want)
		}
	}
}

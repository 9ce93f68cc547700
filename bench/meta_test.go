package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/tmp/go-build123/b001/exe/zkbench", "table", "-servers", "1,3"}, "go run ./cmd/zkbench table -servers 1,3"},
		{[]string{"/usr/local/bin/zkbench", "-target", "both"}, "zkbench -target both"},
		{[]string{"bin/zkbench", "-hosts-name", "my cluster", ""}, "bin/zkbench -hosts-name 'my cluster' ''"},
	} {
		if got := CommandLine(tc.args); got != tc.want {
			t.Errorf("CommandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestCollectMeta(t *testing.T) {
	m := CollectMeta()
	if m.Cores <= 0 || m.GoVersion == "" || m.Started.IsZero() || m.Kernel == "" {
		t.Errorf("%+v", m)
	}
}

func TestWriteTableSection(t *testing.T) {
	tb := reportTable()
	tb.Meta.Command = "go run ./cmd/zkbench table -servers 1,3"
	var b bytes.Buffer
	if err := WriteTableSection(&b, "Throughput", tb, "bench/table.svg", CapacityOptions{}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"## Throughput\n", "- commit: `abc1234`", "```sh\ngo run ./cmd/zkbench table -servers 1,3\n```",
		"![Throughput](bench/table.svg)", "### Capacity planning", "What the model assumes"} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q", want)
		}
	}
}

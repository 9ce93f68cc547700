package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"zkd/netio"
	"zkd/netio/netiotest"
)

func TestProbeAgainstZkd(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 100 * time.Millisecond})
	var out bytes.Buffer
	err := run([]string{"-servers", addr, "-nodes", "300", "-fillers", "8", "-load", "2",
		"-interval", "2ms", "-duration", "300ms"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"filled 300 znodes of 100 bytes", "background writes:", "probe writes "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nodes", "0"}, {"-interval", "0s"}, {"-load", "-1"}, {"-nope"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

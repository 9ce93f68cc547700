package bench

import (
	"math"
	"testing"
	"time"

	"zkd/netio"
	"zkd/netio/netiotest"
)

// TestRunLoadMix: a short run issues the asked write fraction, records
// every reply, and reports ordered, positive latencies.
func TestRunLoadMix(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	res, err := RunLoad(LoadConfig{
		Addrs: []string{addr}, Sessions: 4, Outstanding: 8, ValueBytes: 256,
		WriteFraction: 0.3, Znodes: 10, Warmup: 200 * time.Millisecond, Duration: time.Second, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	total := res.Reads + res.Writes
	if total < 100 {
		t.Fatalf("only %d requests in a second", total)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors", res.Errors)
	}
	frac := float64(res.Writes) / float64(total)
	if math.Abs(frac-0.3) > 0.05 {
		t.Errorf("write fraction %.3f, asked 0.3", frac)
	}
	p50, p99, pmax := res.Percentile(50), res.Percentile(99), res.Percentile(100)
	if p50 <= 0 || p50 > p99 || p99 > pmax {
		t.Errorf("latencies not ordered: p50 %v p99 %v max %v", p50, p99, pmax)
	}
	if res.OpsPerSec() <= 0 || res.ClientCPU <= 0 {
		t.Errorf("ops/s %v client CPU %v", res.OpsPerSec(), res.ClientCPU)
	}
}

// TestRunLoadRate: a rate-limited run stays near its rate.
func TestRunLoadRate(t *testing.T) {
	addr := netiotest.Start(t, netio.Config{TickTime: 500 * time.Millisecond})
	res, err := RunLoad(LoadConfig{
		Addrs: []string{addr}, Sessions: 2, Outstanding: 4, WriteFraction: 0.5,
		Znodes: 5, Duration: time.Second, Rate: 500, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ops := res.OpsPerSec(); ops < 350 || ops > 650 {
		t.Errorf("rate-limited run did %.0f ops/s, asked 500", ops)
	}
}

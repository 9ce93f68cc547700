package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "writeprobe:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	servers    []string
	nodes      int
	valueBytes int
	fillers    int
	loaders    int
	interval   time.Duration
	duration   time.Duration
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("writeprobe", flag.ContinueOnError)
	servers := fs.String("servers", "127.0.0.1:2181", "comma-separated host:port of the servers")
	var c config
	fs.IntVar(&c.nodes, "nodes", 100000, "znodes to create under /writeprobe")
	fs.IntVar(&c.valueBytes, "size", 100, "bytes of data per znode")
	fs.IntVar(&c.fillers, "fillers", 64, "concurrent creates while filling")
	fs.IntVar(&c.loaders, "load", 16, "background writers during the probe (0: none)")
	fs.DurationVar(&c.interval, "interval", 5*time.Millisecond, "time between probe writes")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to probe")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.servers = strings.Split(*servers, ",")
	if c.nodes < 1 || c.valueBytes < 0 || c.fillers < 1 || c.loaders < 0 || c.interval <= 0 || c.duration <= 0 {
		return c, errors.New("-nodes and -fillers must be at least 1; -size, -load at least 0; -interval, -duration positive")
	}
	return c, nil
}

const root = "/writeprobe"

func nodePath(i int) string { return fmt.Sprintf("%s/n%09d", root, i) }

func run(args []string, out io.Writer) error {
	c, err := parse(args)
	if err != nil {
		return err
	}
	conn, _, err := zk.Connect(c.servers, 10*time.Second, zk.WithLogInfo(false), zk.WithDialer(net.DialTimeout))
	if err != nil {
		return err
	}
	defer conn.Close()
	acl := zk.WorldACL(zk.PermAll)
	if _, err := conn.Create(root, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", root, err)
	}
	data := make([]byte, c.valueBytes)
	for i := range data {
		data[i] = byte(i * 7)
	}

	start := time.Now()
	var next atomic.Int64
	errs := make(chan error, c.fillers)
	var wg sync.WaitGroup
	for range c.fillers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= c.nodes; i = int(next.Add(1)) {
				if _, err := conn.Create(nodePath(i), data, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
					errs <- fmt.Errorf("fill: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Fprintf(out, "filled %d znodes of %d bytes in %v\n", c.nodes, c.valueBytes, time.Since(start).Round(time.Millisecond))

	stop := make(chan struct{})
	var loaded atomic.Int64
	for g := range c.loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i += c.loaders {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := conn.Set(nodePath(1+i%c.nodes), data, -1); err == nil {
					loaded.Add(1)
				}
			}
		}()
	}
	lat, err := probe(conn, nodePath(1), data, c.interval, c.duration)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	report(out, lat, loaded.Load(), c.duration)
	return nil
}

// probe times one setData every interval for duration.
func probe(conn *zk.Conn, path string, data []byte, interval, duration time.Duration) ([]time.Duration, error) {
	var lat []time.Duration
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		<-tick.C
		t0 := time.Now()
		if _, err := conn.Set(path, data, -1); err != nil {
			return nil, fmt.Errorf("probe write: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	if len(lat) == 0 {
		return nil, errors.New("no probe write completed")
	}
	return lat, nil
}

func report(out io.Writer, lat []time.Duration, loaded int64, d time.Duration) {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond)
	}
	fmt.Fprintf(out, "background writes: %.0f/s\n", float64(loaded)/d.Seconds())
	fmt.Fprintf(out, "probe writes %d: p50 %v p99 %v p99.9 %v max %v\n",
		len(lat), q(0.5), q(0.99), q(0.999), lat[len(lat)-1].Round(10*time.Microsecond))
}

package refzk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Paths of the Debian packages zookeeper and zookeeper-bin.
const (
	// JarPath is the server and client jar. Its manifest Class-Path names
	// the other jars it needs (jute, netty, jackson, ...), so it is the only
	// jar the JVM must be told about besides the logging binding.
	JarPath = "/usr/share/java/zookeeper.jar"
	// ConfDir holds log4j.properties; it goes first on the class path.
	ConfDir = "/etc/zookeeper/conf"
	// ZkCliPath is the Java command-line client.
	ZkCliPath = "/usr/share/zookeeper/bin/zkCli.sh"

	mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// loggingJars bind slf4j to log4j 1.2. Without them the server starts but
// logs nothing at all; they are put on the class path only if present.
var loggingJars = []string{
	"/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}

// Defaults and bounds.
const (
	tickTimeMsDefault     = 2000
	startTimeoutDefault   = 60 * time.Second
	stopGraceTimeout      = 10 * time.Second // SIGTERM to SIGKILL
	killWaitTimeout       = 10 * time.Second // SIGKILL to reaped
	pollInterval          = 100 * time.Millisecond
	probeTimeout          = time.Second
	portAttemptsMax       = 3 // fresh ports after a lost bind race
	ensembleSizeMax       = 254
	logTailBytesMax       = 4096
	fourLetterReplyMax    = 1 << 20
	zkCliWaitDelay        = 2 * time.Second
	logFileName           = "zookeeper.out"
	cfgFileName           = "zoo.cfg"
	ensembleInitLimit     = 10
	ensembleSyncLimit     = 5
	notServingReplyPrefix = "This ZooKeeper instance is not currently serving requests"
)

// Sentinel errors; wrapped errors carry the details.
var (
	// ErrUnavailable: java or the zookeeper package is missing.
	ErrUnavailable = errors.New("refzk: java or Apache ZooKeeper not installed")
	// ErrExited: the server process ended before it was ready.
	ErrExited = errors.New("refzk: server exited during startup")
	// ErrTimeout: a bounded wait ran out.
	ErrTimeout = errors.New("refzk: timed out")
)

// Available reports whether the reference server can run here: the
// ZooKeeper jar exists and java is on PATH.
func Available() bool {
	if _, err := os.Stat(JarPath); err != nil {
		return false
	}
	_, err := exec.LookPath("java")
	return err == nil
}

// Options configures Start and StartEnsemble. The zero value is usable.
type Options struct {
	// Dir is the data directory (zoo.cfg, myid, log and version-2/ go
	// here). Empty means a fresh temporary directory that Stop removes. A
	// given Dir is created if missing and never removed, so a server can
	// be stopped and started again on the same data. For an ensemble,
	// server i uses Dir/server<i>.
	Dir string
	// Port is the client port of a standalone server; 0 picks a free
	// loopback port. Must be 0 for StartEnsemble.
	Port int
	// TickTimeMs is zoo.cfg tickTime; 0 means 2000.
	TickTimeMs int
	// Extra lines appended to zoo.cfg, each "key=value", for example
	// "DigestAuthenticationProvider.superDigest=super:...". ZooKeeper turns
	// unknown keys into the system property zookeeper.<key>. Later lines
	// override earlier ones, including the defaults written by refzk.
	Extra []string
	// JVMFlags are extra java arguments placed after refzk's own, so a
	// repeated -D here wins. Example: "-Dznode.container.checkIntervalMs=500"
	// makes TTL and container nodes go away within a second (the default
	// check runs every 60 s, and that property has no zoo.cfg spelling).
	JVMFlags []string
	// StartTimeout bounds the wait for readiness; 0 means 60 s.
	StartTimeout time.Duration
}

// Server is one running Apache ZooKeeper process. Its methods are safe
// for concurrent use.
type Server struct {
	id      int // myid; 0 for standalone
	port    int
	dir     string
	ownDir  bool
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid after exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Addr is the client address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the client port.
func (s *Server) Port() int { return s.port }

// PID is the java process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Dir is the data directory.
func (s *Server) Dir() string { return s.dir }

// LogPath is the file that receives the server's stdout and stderr.
func (s *Server) LogPath() string { return filepath.Join(s.dir, logFileName) }

// ID is the server's myid in an ensemble, 0 when standalone.
func (s *Server) ID() int { return s.id }

// Mode asks the server with srvr and returns its mode: "standalone",
// "leader", "follower" or "observer". A server that is up but not serving
// (for example during an election) yields an error.
func (s *Server) Mode() (string, error) {
	out, err := FourLetter(s.Addr(), "srvr", probeTimeout)
	if err != nil {
		return "", err
	}
	mode, ok := parseMode(out)
	if !ok {
		return "", fmt.Errorf("refzk: %s not serving: %q", s.Addr(), firstLine(out))
	}
	return mode, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after a bounded wait),
// reaps it and removes the data directory if refzk created it. It is
// idempotent; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	err := s.kill()
	if s.ownDir {
		// Only remove once the process is gone, else it may recreate files.
		if err == nil {
			if rmErr := os.RemoveAll(s.dir); rmErr != nil {
				err = fmt.Errorf("refzk: remove %s: %w", s.dir, rmErr)
			}
		}
	}
	return err
}

// kill signals the process by its pid and waits until it is reaped.
func (s *Server) kill() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	// Errors from Signal mean the process already finished; exited will
	// be closed by the waiter in that case.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopGraceTimeout):
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
		return nil
	case <-time.After(killWaitTimeout):
		return fmt.Errorf("refzk: pid %d still running %v after SIGKILL: %w", s.PID(), killWaitTimeout, ErrTimeout)
	}
}

// Start runs a standalone server on 127.0.0.1 and returns once it answers
// ruok with imok and srvr shows it serving. On any failure the process is
// killed and a temporary directory removed before Start returns.
func Start(opts Options) (*Server, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	var lastErr error
	for attempt := 0; attempt < portAttemptsMax; attempt++ {
		port := opts.Port
		if port == 0 {
			ports, err := FreePorts(1)
			if err != nil {
				return nil, err
			}
			port = ports[0]
		}
		srv, err := launch(opts, 0, port, nil, opts.Dir)
		if err != nil {
			return nil, err
		}
		err = waitReady([]*Server{srv}, startTimeout(opts))
		if err == nil {
			return srv, nil
		}
		retry := opts.Port == 0 && lostBindRace(srv)
		err = withLogTail(err, srv)
		if stopErr := srv.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if !retry {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// StartEnsemble runs n servers (myid 1..n) on 127.0.0.1 with server.N
// lines, initLimit=10 and syncLimit=5, and returns once every server
// serves and exactly one is leader (n == 1 runs standalone). On failure
// all processes are stopped before it returns.
func StartEnsemble(n int, opts Options) ([]*Server, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	if n < 1 || n > ensembleSizeMax {
		return nil, fmt.Errorf("refzk: ensemble size %d outside 1..%d", n, ensembleSizeMax)
	}
	if opts.Port != 0 {
		return nil, errors.New("refzk: Options.Port must be 0 for an ensemble")
	}
	var lastErr error
	for attempt := 0; attempt < portAttemptsMax; attempt++ {
		servers, retry, err := startEnsembleOnce(n, opts)
		if err == nil {
			return servers, nil
		}
		if !retry {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func startEnsembleOnce(n int, opts Options) (servers []*Server, retry bool, err error) {
	ports, err := FreePorts(3 * n) // client, peer, election per server
	if err != nil {
		return nil, false, err
	}
	peers := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		peers = append(peers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i, ports[3*(i-1)+1], ports[3*(i-1)+2]))
	}
	peers = append(peers, fmt.Sprintf("initLimit=%d", ensembleInitLimit), fmt.Sprintf("syncLimit=%d", ensembleSyncLimit))

	fail := func(err error) ([]*Server, bool, error) {
		for _, s := range servers {
			if lostBindRace(s) {
				retry = true
			}
			err = withLogTail(err, s)
		}
		for _, s := range servers {
			if stopErr := s.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
		return nil, retry, err
	}
	for i := 1; i <= n; i++ {
		dir := ""
		if opts.Dir != "" {
			dir = filepath.Join(opts.Dir, fmt.Sprintf("server%d", i))
		}
		s, err := launch(opts, i, ports[3*(i-1)], peers, dir)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, s)
	}
	if err := waitReady(servers, startTimeout(opts)); err != nil {
		return fail(err)
	}
	return servers, false, nil
}

// StopAll stops every server (in parallel) and joins their errors.
func StopAll(servers []*Server) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func startTimeout(opts Options) time.Duration {
	if opts.StartTimeout > 0 {
		return opts.StartTimeout
	}
	return startTimeoutDefault
}

// launch writes the config and starts java; it does not wait for
// readiness. On error nothing is left running and an own dir is removed.
func launch(opts Options, id, port int, ensembleLines []string, dir string) (*Server, error) {
	ownDir := false
	if dir == "" {
		d, err := os.MkdirTemp("", "refzk-")
		if err != nil {
			return nil, fmt.Errorf("refzk: temp dir: %w", err)
		}
		dir, ownDir = d, true
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("refzk: data dir: %w", err)
		}
		dir = abs
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("refzk: data dir: %w", err)
		}
	}
	cleanup := func(err error) (*Server, error) {
		if ownDir {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}

	tick := opts.TickTimeMs
	if tick <= 0 {
		tick = tickTimeMsDefault
	}
	lines := []string{
		fmt.Sprintf("tickTime=%d", tick),
		"dataDir=" + dir,
		fmt.Sprintf("clientPort=%d", port),
		"clientPortAddress=127.0.0.1",
		"maxClientCnxns=0",
		"4lw.commands.whitelist=*",
		"admin.enableServer=false",
		"extendedTypesEnabled=true",
	}
	lines = append(lines, ensembleLines...)
	for _, l := range opts.Extra {
		if strings.ContainsAny(l, "\r\n") {
			return cleanup(fmt.Errorf("refzk: Extra line %q holds a line break", l))
		}
		lines = append(lines, l)
	}
	cfgPath := filepath.Join(dir, cfgFileName)
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return cleanup(fmt.Errorf("refzk: write %s: %w", cfgPath, err))
	}
	if id > 0 {
		if err := os.WriteFile(filepath.Join(dir, "myid"), []byte(strconv.Itoa(id)+"\n"), 0o644); err != nil {
			return cleanup(fmt.Errorf("refzk: write myid: %w", err))
		}
	}

	logf, err := os.OpenFile(filepath.Join(dir, logFileName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return cleanup(fmt.Errorf("refzk: open log: %w", err))
	}
	defer logf.Close() // the child keeps its own descriptor

	args := []string{
		// log4j.properties in ConfDir reads the root logger from this
		// property; unset, log4j finds no appender and prints nothing.
		"-Dzookeeper.root.logger=INFO,CONSOLE",
		"-Dzookeeper.log.dir=" + dir,
		"-cp", classPath(),
	}
	args = append(args, opts.JVMFlags...)
	args = append(args, mainClass, cfgPath)
	cmd := exec.Command("java", args...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the test binary dies without calling Stop, the kernel kills the
	// server rather than leaving it bound to its ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return cleanup(fmt.Errorf("refzk: start java: %w", err))
	}
	s := &Server{id: id, port: port, dir: dir, ownDir: ownDir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func classPath() string {
	parts := []string{ConfDir, JarPath}
	for _, j := range loggingJars {
		if _, err := os.Stat(j); err == nil {
			parts = append(parts, j)
		}
	}
	return strings.Join(parts, ":")
}

// waitReady polls until every server answers ruok with imok and srvr with
// a mode, and (for more than one server) exactly one is leader.
func waitReady(servers []*Server, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		for _, s := range servers {
			select {
			case <-s.exited:
				return fmt.Errorf("%w: pid %d (%s): %v", ErrExited, s.PID(), s.Addr(), s.waitErr)
			default:
			}
		}
		var ok bool
		ok, last = probeAll(servers)
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w after %v waiting for %d server(s): %s", ErrTimeout, timeout, len(servers), last)
		}
		time.Sleep(pollInterval)
	}
}

// probeAll returns whether all servers are ready and, if not, why.
func probeAll(servers []*Server) (bool, string) {
	leaders := 0
	for _, s := range servers {
		r, err := FourLetter(s.Addr(), "ruok", probeTimeout)
		if err != nil {
			return false, fmt.Sprintf("%s ruok: %v", s.Addr(), err)
		}
		if r != "imok" {
			return false, fmt.Sprintf("%s ruok: %q", s.Addr(), r)
		}
		mode, err := s.Mode()
		if err != nil {
			return false, err.Error()
		}
		if mode == "leader" || (len(servers) == 1 && mode == "standalone") {
			leaders++
		}
	}
	if len(servers) > 1 && leaders != 1 {
		return false, fmt.Sprintf("%d leaders among %d servers", leaders, len(servers))
	}
	if len(servers) == 1 && leaders != 1 {
		return false, "no standalone or leader mode"
	}
	return true, ""
}

// parseMode finds "Mode: X" in srvr output.
func parseMode(srvr string) (string, bool) {
	if strings.HasPrefix(srvr, notServingReplyPrefix) {
		return "", false
	}
	for _, line := range strings.Split(srvr, "\n") {
		if m, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(m), true
		}
	}
	return "", false
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// lostBindRace reports whether the process exited because a port chosen
// by FreePorts was taken by someone else before java bound it.
func lostBindRace(s *Server) bool {
	select {
	case <-s.exited:
	default:
		return false
	}
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("Address already in use"))
}

// withLogTail appends the end of the server log to err, since Stop may
// remove the directory that holds it.
func withLogTail(err error, s *Server) error {
	f, openErr := os.Open(s.LogPath())
	if openErr != nil {
		return err
	}
	defer f.Close()
	st, statErr := f.Stat()
	if statErr != nil {
		return err
	}
	off := max(st.Size()-logTailBytesMax, 0)
	b, readErr := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if readErr != nil || len(b) == 0 {
		return err
	}
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, s.LogPath(), b)
}

// FreePorts picks n distinct free loopback TCP ports: it listens on
// 127.0.0.1:0 n times, holding every listener until all are chosen, then
// closes them. Another process may still take one before a server binds
// it; Start and StartEnsemble (and bench's zkd launcher) retry on that.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("refzk: pick free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FourLetter sends a four-letter word (ruok, srvr, stat, mntr, conf, ...)
// to addr and returns the whole reply; the server closes the connection
// after answering. The exchange is bounded by timeout.
func FourLetter(addr, cmd string, timeout time.Duration) (string, error) {
	if len(cmd) != 4 {
		return "", fmt.Errorf("refzk: four-letter word %q is not 4 bytes", cmd)
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", fmt.Errorf("refzk: %s %s: %w", cmd, addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("refzk: %s %s: %w", cmd, addr, err)
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", fmt.Errorf("refzk: %s %s: %w", cmd, addr, err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, fourLetterReplyMax))
	if err != nil {
		return string(b), fmt.Errorf("refzk: %s %s: %w", cmd, addr, err)
	}
	return string(b), nil
}

// ZkCli runs zkCli.sh -server addr, feeds commands on stdin one per line
// followed by quit, and returns stdout and stderr interleaved as written.
//
// zkCli in this mode exits 0 even when a command fails: failures show only
// in the output ("Node already exists: /x", "Node does not exist: /x",
// "Command not found: ..."). Note that zkCli prints "Created /x" and all
// error messages on stderr and query results (get, ls, stat) on stdout.
// Data with spaces must be double-quoted inside the command.
//
// The run is bounded by timeout: then the whole process group (the shell
// and its java child) is killed by its id and ErrTimeout is returned along
// with the output so far.
func ZkCli(addr string, commands []string, timeout time.Duration) (string, error) {
	if _, err := os.Stat(ZkCliPath); err != nil || !Available() {
		return "", ErrUnavailable
	}
	for _, c := range commands {
		if strings.ContainsAny(c, "\r\n") {
			return "", fmt.Errorf("refzk: zkCli command %q holds a line break", c)
		}
	}
	input := strings.Join(append(append([]string(nil), commands...), "quit"), "\n") + "\n"

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ZkCliPath, "-server", addr)
	cmd.Stdin = strings.NewReader(input)
	var out bytes.Buffer
	// One writer for both streams: exec then uses a single pipe, so the
	// order of stdout and stderr lines is kept.
	cmd.Stdout = &out
	cmd.Stderr = &out
	// zkCli.sh runs java as a child rather than exec'ing it, so kill the
	// process group, whose id is the shell's pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = zkCliWaitDelay
	err := cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		// Reap any straggler of the group too; ESRCH means it is gone.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return out.String(), fmt.Errorf("refzk: zkCli %s after %v: %w", addr, timeout, ErrTimeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("refzk: zkCli %s: %w", addr, err)
	}
	return out.String(), nil
}

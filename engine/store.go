package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"zkd/tree"
)

// StoreOptions configure a Store: the log and the snapshots of one server.
type StoreOptions struct {
	DataDir     string // snapshots go in DataDir/snapshots
	LogDir      string // the log goes in LogDir/log; empty means DataDir
	FS          vfs.FS // nil means vfs.Default
	NoSync      bool   // zoo.cfg forceSync=no
	SnapCount   int    // txns between snapshots (randomised per ZooKeeper); 0 means 100,000
	SnapRetain  int    // snapshots kept (autopurge.snapRetainCount); 0 means 3
	ChunkNodes  int    // nodes encoded per read-lock hold while snapshotting; 0 means 1000
	Logger      *slog.Logger
	PollEvery   time.Duration // how often the snapshotter looks at the zxid; 0 means 100 ms
	RandSeed    uint64        // for the snapshot jitter; 0 picks one from the clock
	PurgeOnSnap bool          // purge old snapshots and log after each snapshot
}

// Store is a server's durable state: the transaction log (the pipeline's
// broadcast.Log) and the snapshots that bound how much of it a restart
// replays.
//
// Contract:
//  1. OpenStore restores the tree: the newest valid snapshot, then the log
//     from the snapshot's start zxid. The caller builds the server over
//     the returned tree and hands Store.Log to the pipeline.
//  2. StartSnapshots runs the snapshotter; lastZxid reports the applied
//     zxid and withReadLock runs a function under the tree's read lock.
//  3. Close stops the snapshotter, then closes the log.
type Store struct {
	opts StoreOptions
	fs   vfs.FS
	Log  *Log

	snapDir string
	log     *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu struct {
		sync.Mutex
		lastSnapZxid int64
		snapshots    int
	}
}

// OpenStore opens the log and restores the tree.
func OpenStore(o StoreOptions) (*Store, *tree.Tree, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.LogDir == "" {
		o.LogDir = o.DataDir
	}
	if o.SnapCount <= 0 {
		o.SnapCount = 100000
	}
	if o.SnapRetain <= 0 {
		o.SnapRetain = 3
	}
	if o.ChunkNodes <= 0 {
		o.ChunkNodes = 1000
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: o, fs: o.FS, snapDir: filepath.Join(o.DataDir, "snapshots"), log: o.Logger}
	if err := o.FS.MkdirAll(s.snapDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("engine: snapshot directory: %w", err)
	}
	lg, err := OpenLog(LogOptions{Dir: filepath.Join(o.LogDir, "log"), FS: o.FS, NoSync: o.NoSync, Logger: o.Logger})
	if err != nil {
		return nil, nil, err
	}
	s.Log = lg
	t, err := s.restore()
	if err != nil {
		lg.Close()
		return nil, nil, err
	}
	return s, t, nil
}

// restore loads the newest valid snapshot and replays the log after it.
func (s *Store) restore() (*tree.Tree, error) {
	start := time.Now()
	t, snapZxid, name, err := LoadNewestSnapshot(s.fs, s.snapDir, s.log)
	if err != nil {
		return nil, err
	}
	first, last := s.Log.FirstZxid(), s.Log.LastZxid()
	if last > snapZxid && first > snapZxid+1 {
		// The log no longer holds what follows the snapshot: replaying
		// would silently skip acknowledged transactions.
		return nil, fmt.Errorf("engine: log starts at zxid 0x%x but the snapshot %q ends at 0x%x: transactions are missing", first, name, snapZxid)
	}
	replayed := 0
	err = s.Log.Read(snapZxid+1, math.MaxInt64, func(x *tree.Txn) error {
		t.Apply(x, nil)
		replayed++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: replaying the log after zxid 0x%x: %w", snapZxid, err)
	}
	s.mu.lastSnapZxid = snapZxid
	s.reportDigestCheck(t, name)
	s.log.Info("restored", "snapshot", name, "snapshotZxid", fmt.Sprintf("0x%x", snapZxid),
		"replayed", replayed, "lastZxid", fmt.Sprintf("0x%x", t.LastZxid()), "nodes", t.NodeCount(),
		"took", time.Since(start).Round(time.Millisecond))
	return t, nil
}

// reportDigestCheck logs how the digest the snapshot recorded at its end
// compared with the tree once the replay got there (tree.DigestCheck).
func (s *Store) reportDigestCheck(t *tree.Tree, snapshot string) {
	c, ok := t.TakeDigestCheck()
	t.DropDigestCheck()
	if ok { // none: no snapshot, or one from before digests were recorded
		s.log.Log(context.Background(), c.Level(), c.String(), "snapshot", snapshot)
	}
}

// StartSnapshots runs the snapshotter in the background: once the applied
// zxid is a (randomised) SnapCount past the last snapshot, it writes a new
// one, then purges what retention no longer needs.
func (s *Store) StartSnapshots(t *tree.Tree, lastZxid func() int64, withReadLock func(func())) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	seed := s.opts.RandSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	go func() {
		defer close(s.done)
		next := int64(SnapCountJitter(s.opts.SnapCount, rnd))
		tick := time.NewTicker(s.opts.PollEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			since := lastZxid() - s.mu.lastSnapZxid
			s.mu.Unlock()
			if since < next {
				continue
			}
			if err := s.Snapshot(t, withReadLock); err != nil {
				s.log.Error("snapshot failed", "err", err)
				continue
			}
			next = int64(SnapCountJitter(s.opts.SnapCount, rnd))
		}
	}()
}

// Snapshot writes one fuzzy snapshot now and, with PurgeOnSnap, purges.
func (s *Store) Snapshot(t *tree.Tree, withReadLock func(func())) error {
	began := time.Now()
	name, startZxid, err := WriteSnapshot(s.fs, s.snapDir, t, withReadLock, s.opts.ChunkNodes)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.lastSnapZxid = startZxid
	s.mu.snapshots++
	s.mu.Unlock()
	took := time.Since(began)
	var nodes int
	withReadLock(func() { nodes = t.NodeCount() })
	var size int64
	if fi, statErr := s.fs.Stat(s.fs.PathJoin(s.snapDir, name)); statErr == nil {
		size = fi.Size()
	}
	s.log.Info("snapshot written", "file", name, "startZxid", fmt.Sprintf("0x%x", startZxid),
		"nodes", nodes, "bytes", size, "took", took.Round(time.Millisecond))
	if !s.opts.PurgeOnSnap {
		return nil
	}
	return s.Purge()
}

// Purge keeps the newest SnapRetain snapshots and the log they need.
func (s *Store) Purge() error {
	oldest, err := PurgeSnapshots(s.fs, s.snapDir, s.opts.SnapRetain)
	if err != nil {
		return err
	}
	if oldest > 0 {
		// Replay from the oldest kept snapshot needs the log after it.
		return s.Log.PurgeBefore(oldest + 1)
	}
	return nil
}

// Snapshots is the number of snapshots written since OpenStore.
func (s *Store) Snapshots() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.snapshots
}

// Close stops the snapshotter and closes the log.
func (s *Store) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
	})
	if s.Log == nil {
		return errors.New("engine: store not open")
	}
	return s.Log.Close()
}

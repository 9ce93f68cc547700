package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"zkd/broadcast"
	"zkd/broadcast/peer"
	"zkd/broadcast/replica"
	"zkd/broadcast/zab"
	"zkd/tree"
)

// member is one server.N line of zoo.cfg:
// host:peerPort:electionPort[:participant|observer][;clientHost:clientPort].
// zkd's quorum protocol uses one port per server (peerPort); the election
// port is accepted and unused.
type member struct {
	id     zab.ID
	peer   string
	client string // empty when the line names none
}

func parseMember(id int, line string) (member, error) {
	m := member{id: zab.ID(id)}
	if id <= 0 || id > 255 {
		return m, fmt.Errorf("server.%d: ids run from 1 to 255 (the top byte of session ids)", id)
	}
	addrs, client, _ := strings.Cut(line, ";")
	parts := strings.Split(strings.TrimSpace(addrs), ":")
	if len(parts) < 2 || len(parts) > 4 {
		return m, fmt.Errorf("server.%d=%s: want host:peerPort:electionPort[:participant]", id, line)
	}
	if len(parts) == 4 && parts[3] != "participant" {
		return m, fmt.Errorf("server.%d: %q servers are not supported (only participants)", id, parts[3])
	}
	if _, err := strconv.ParseUint(parts[1], 10, 16); err != nil {
		return m, fmt.Errorf("server.%d: bad peer port %q", id, parts[1])
	}
	m.peer = net.JoinHostPort(parts[0], parts[1])
	if client = strings.TrimSpace(client); client != "" {
		if !strings.Contains(client, ":") {
			client = net.JoinHostPort("0.0.0.0", client)
		}
		if _, _, err := net.SplitHostPort(client); err != nil {
			return m, fmt.Errorf("server.%d: bad client address %q", id, client)
		}
		m.client = client
	}
	return m, nil
}

// readMyID reads dataDir/myid, as Apache ZooKeeper does.
func readMyID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "myid"))
	if err != nil {
		return 0, fmt.Errorf("an ensemble member needs its id in %s/myid (or -myid): %w", dataDir, err)
	}
	id, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s/myid: %w", dataDir, err)
	}
	return id, nil
}

// Zab counts in ticks of a tenth of tickTime: the leader pings every half
// tickTime, as ZooKeeper's does, and initLimit and syncLimit keep their
// meaning in tickTimes.
const ticksPerTickTime = 10

// ensembleSetup is what cmd/zkd starts for an ensemble member.
type ensembleSetup struct {
	ens     *broadcast.Ensemble
	storage *replica.EngineStorage
	tree    *tree.Tree // restored from the newest snapshot, or empty
	client  string     // the client address from this server's line, if any
}

// setUpEnsemble opens the member's replicated log and configures Zab and
// the peer transport from zoo.cfg. The tree starts from the newest
// snapshot (or empty): the ensemble hands the committed entries after it
// out again, so nothing uncommitted is applied (see replica.EngineStorage).
func setUpEnsemble(cfg config, myID int, logger *slog.Logger) (*ensembleSetup, error) {
	members := make(map[zab.ID]member, len(cfg.Servers))
	for id, line := range cfg.Servers {
		m, err := parseMember(id, line)
		if err != nil {
			return nil, err
		}
		members[m.id] = m
	}
	me, ok := members[zab.ID(myID)]
	if !ok {
		return nil, fmt.Errorf("myid %d has no server.%d line in zoo.cfg", myID, myID)
	}
	initLimit, syncLimit := cfg.InitLimit, cfg.SyncLimit
	if initLimit <= 0 {
		initLimit = 10
	}
	if syncLimit <= 0 {
		syncLimit = 5
	}
	zc := zab.Config{
		ID:             me.id,
		ElectionTicks:  2,
		InitTicks:      initLimit * ticksPerTickTime,
		SyncTicks:      syncLimit * ticksPerTickTime,
		HeartbeatTicks: ticksPerTickTime / 2,
		Seed:           uint64(time.Now().UnixNano()) ^ uint64(myID)<<56,
		Logf: func(format string, args ...any) {
			logger.Info("zab: " + fmt.Sprintf(format, args...))
		},
	}
	pc := peer.Config{ID: me.id, Listen: me.peer, Peers: map[zab.ID]string{}, Logger: logger}
	for id, m := range members {
		zc.Peers = append(zc.Peers, id)
		if id != me.id {
			pc.Peers[id] = m.peer
		}
	}
	dir := cfg.DataDir
	if cfg.LogDir != "" {
		dir = cfg.LogDir
	}
	storage, err := replica.OpenEngineStorage(filepath.Join(dir, "zab"))
	if err != nil {
		return nil, err
	}
	snap, err := storage.RestartWithSnapshot(&zc)
	if err != nil {
		storage.Close()
		return nil, err
	}
	t := tree.New()
	if snap != nil {
		if t, err = broadcast.DecodeSnapshot(*snap); err != nil {
			storage.Close()
			return nil, err
		}
	}
	logger.Info("ensemble member", "myid", myID, "peer", me.peer, "servers", len(members),
		"acceptedEpoch", zc.HardState.AcceptedEpoch, "currentEpoch", zc.HardState.CurrentEpoch, "logEntries", len(zc.Entries), "snapshotZxid", zc.LogStart)
	tick := cfg.Net.TickTime / ticksPerTickTime
	ens := broadcast.NewEnsemble(broadcast.EnsembleConfig{
		Replica: replica.Config{
			Zab: zc, Peer: pc, Tick: tick, Storage: storage, Logger: logger,
		},
		ExtendedTypes: cfg.Net.ExtendedTypes,
		TouchEvery:    cfg.Net.TickTime / 2,
		Snapshots:     storage,
		SnapCount:     cfg.SnapCount,
		Logger:        logger,
	})
	return &ensembleSetup{ens: ens, storage: storage, tree: t, client: me.client}, nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zkd/engine"
	"zkd/engine/zkimport/zktest"
	"zkd/netio/jute"
	"zkd/tree"
)

var openACL = []jute.ACL{{Perms: jute.PermAll, ID: jute.ID{Scheme: "world", ID: "anyone"}}}

// zkDataDir writes a small ZooKeeper dataDir: version-2 with the initial
// snapshot and one log (a session, a node, an ephemeral).
func zkDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	v2 := filepath.Join(dir, "version-2")
	if err := os.Mkdir(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	snap := &zktest.Snapshot{DBID: -1, Nodes: []zktest.Node{
		{Path: "/", Data: []byte{}, ACLRef: -1},
		{Path: "/zookeeper", Data: []byte{}, ACLRef: -1},
		{Path: "/zookeeper/quota", Data: []byte{}, ACLRef: -1},
		{Path: "/zookeeper/config", Data: []byte{}, ACLRef: -1, Stat: tree.PersistedStat{Aversion: -1}},
	}}
	h := func(zxid int64, op jute.Op) zktest.Header {
		return zktest.Header{Session: 0x42, Zxid: zxid, Time: 1700000000000, Type: op}
	}
	log := zktest.Log(256,
		zktest.Record(zktest.Txn(h(1, jute.OpCreateSession), zktest.CreateSession(10000), nil)),
		zktest.Record(zktest.Txn(h(2, jute.OpCreate), zktest.Create("/a", []byte("x"), openACL, false, 1), nil)),
		zktest.Record(zktest.Txn(h(3, jute.OpCreate), zktest.Create("/a/e", nil, openACL, true, 1), nil)),
	)
	for name, b := range map[string][]byte{"snapshot.0": snap.Bytes(), "log.1": log} {
		if err := os.WriteFile(filepath.Join(v2, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportCommand(t *testing.T) {
	zk := zkDataDir(t)
	out := filepath.Join(t.TempDir(), "zkd-data")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-zk", filepath.Join(zk, "version-2"), "-data", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"snapshot:        snapshot.0 (zxid 0x0, 4 nodes, 0 sessions)",
		"log:             log.1: 3 records, 3 applied, clean end",
		"records:         3 read, 3 applied after the snapshot",
		"nodes:           6",
		"sessions:        1 ",
		"last zxid:       0x3",
		"digest:          not checked",
		"written:         " + filepath.Join(out, "snapshots", engine.SnapshotName(3)) + " (restored and compared)",
		"its first write gets zxid 0x4",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	store, tr, err := engine.OpenStore(engine.StoreOptions{DataDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if n, ok := tr.Get("/a/e"); !ok || n.Owner() != 0x42 || !tr.HasSession(0x42) || tr.LastZxid() != 3 {
		t.Errorf("imported tree lacks the ephemeral, its session or the last zxid")
	}

	// The target is not empty any more: refused, and nothing changes.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-zk", zk, "-data", out}, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "not empty") {
		t.Errorf("second import: exit %d, stderr %q", code, stderr.String())
	}
}

func TestImportCommandErrors(t *testing.T) {
	zk := zkDataDir(t)
	corrupt := t.TempDir()
	os.WriteFile(filepath.Join(corrupt, "snapshot.5"), []byte("not a snapshot"), 0o644)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no -zk", []string{"-data", "x"}, exitUsage, "-zk is required"},
		{"no -data", []string{"-zk", zk}, exitUsage, "-data is required"},
		{"extra argument", []string{"-zk", zk, "-data", "x", "more"}, exitUsage, "unexpected argument"},
		{"bad flag", []string{"-nope"}, exitUsage, "not defined"},
		{"help", []string{"-h"}, exitOK, "usage:"},
		{"no ZooKeeper data", []string{"-zk", t.TempDir(), "-data", filepath.Join(t.TempDir(), "d")}, exitError, "no ZooKeeper snapshot or log"},
		{"corrupt snapshot", []string{"-zk", corrupt, "-data", filepath.Join(t.TempDir(), "d")}, exitError, "no valid snapshot"},
		{"missing directory", []string{"-zk", filepath.Join(zk, "nope"), "-data", filepath.Join(t.TempDir(), "d")}, exitError, "listing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}

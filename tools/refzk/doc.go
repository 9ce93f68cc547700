// Package refzk starts and stops Apache ZooKeeper 3.8 (the Debian
// packages zookeeper and zookeeper-bin) as a reference server on loopback,
// for differential tests and for the benchmark's side-by-side runs. It
// runs QuorumPeerMain directly with java, standalone (Start) or as an
// ensemble of n processes (StartEnsemble), answers four-letter words
// (FourLetter) and drives the Java command-line client non-interactively
// (ZkCli). It is test and tooling code: zkd itself never imports it.
//
// # Caller's contract
//
//  1. Call Available first and skip (t.Skip) when it is false; every other
//     entry point then returns ErrUnavailable.
//  2. Start or StartEnsemble returns only ready servers: every one answers
//     ruok with imok and srvr with a mode, and an ensemble has exactly one
//     leader. On error nothing is left running.
//  3. Call Stop on every returned server (StopAll for a slice), normally
//     from t.Cleanup. Stop is idempotent and safe from several goroutines.
//  4. Treat Dir as the server's own while it runs. A temporary Dir is
//     removed by Stop; a Dir given in Options is kept, so the same Options
//     (Dir and Port) restarts a standalone server on its old data.
//
// # What the config holds, and why
//
// zoo.cfg gets tickTime (2000 ms unless set), dataDir, clientPort,
// clientPortAddress=127.0.0.1, maxClientCnxns=0 (the default 60 per IP
// breaks many-session tests on loopback), 4lw.commands.whitelist=*,
// admin.enableServer=false (else Jetty takes port 8080; Debian ships no
// Jetty jars, so here it only logs "Unable to load jetty"),
// extendedTypesEnabled=true, then Options.Extra. The zoo.cfg line alone
// enables TTL nodes: ZooKeeper copies unknown keys into the system
// property zookeeper.<key>, which is what EphemeralType reads; without it
// createTTL answers Unimplemented. Ensembles add
// server.N=127.0.0.1:PEER:ELECTION lines, initLimit=10, syncLimit=5 and
// a myid file.
//
// The JVM gets -Dzookeeper.root.logger=INFO,CONSOLE: the class path starts
// with /etc/zookeeper/conf, whose log4j.properties takes the root logger
// from that property, and without it the server prints nothing. Output
// goes to Dir/zookeeper.out. Only /usr/share/java/zookeeper.jar is needed
// to run (its manifest Class-Path lists jute, netty, jackson, ...);
// slf4j-log4j12.jar and log4j-1.2.jar are added when present, for logs.
//
// # Invariants
//
//   - Every socket binds 127.0.0.1 only: client ports through
//     clientPortAddress, quorum and election ports through the server.N
//     addresses.
//   - No process outlives its Server: Stop sends SIGTERM to the pid, then
//     SIGKILL after 10 s, and returns only once the process is reaped.
//     Start kills the process when readiness fails or times out. As a
//     backstop, java runs with the Linux parent-death signal SIGKILL, so a
//     test binary that dies without Stop takes its servers with it.
//   - ZkCli kills zkCli.sh's whole process group on timeout: the script
//     runs java as a child instead of exec'ing it, so killing the shell
//     alone would leave the JVM running.
//   - Ports are picked by listening on 127.0.0.1:0 and closing; if another
//     process takes one before java binds it, the attempt is stopped and
//     retried with fresh ports, at most 3 times.
//
// # Cost
//
// Each server is one JVM: about 0.6 s to serve when the machine is idle,
// 2-3 s with several starting at once on 2 cores; a 3-server ensemble
// elects its leader about 0.4 s after the last peer is up. Stop takes about
// 0.35 s (the JVM honours SIGTERM). Each JVM has the default maximum heap
// (a quarter of RAM) but commits far less when idle; pass -Xmx in
// Options.JVMFlags when running many. A ZkCli call starts a JVM and costs
// about 0.5 s plus the commands. Readiness polls every 100 ms with two
// short-lived connections per server.
package refzk

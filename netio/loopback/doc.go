// Package loopback hands out loopback addresses for servers that tests
// start and may restart on the same address.
//
// The usual trick, listening on 127.0.0.1:0 and closing, leaves a window in
// which the kernel can give the port to any outgoing connection on the
// machine (its ephemeral range is the same one), and a server that binds it
// later fails with "address already in use". Go runs the packages' tests in
// parallel, so such connections are plentiful. Here each process picks one
// random address in 127.0.0.0/8 besides 127.0.0.1 and hands out ports on it:
// outgoing connections to loopback take 127.0.0.1 as their source, so they
// never hold a port on the process's own address, and another process picks
// its own address. Where the random address cannot be bound (a system with
// only 127.0.0.1 configured), it falls back to 127.0.0.1.
package loopback

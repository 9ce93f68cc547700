// Package zab is the Zab protocol core: leader election, discovery,
// synchronisation and broadcast, as a deterministic state machine.
package zab

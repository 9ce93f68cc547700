package treetest

import (
	"sync"

	"zkd/tree"
)

// ApplyBeside applies txns to t, each under a write lock, as a server's
// applier goes on beside a snapshot being taken: it starts once the
// returned withReadLock (which runs its argument under the read side of
// that lock) has been called once, so the writes land between the
// snapshot's chunks. wait returns once every txn is applied (starting the
// writes first if withReadLock was never called).
func ApplyBeside(t *tree.Tree, txns []tree.Txn) (withReadLock func(func()), wait func()) {
	var mu sync.RWMutex
	var once sync.Once
	started, applied := make(chan struct{}), make(chan struct{})
	start := func() { once.Do(func() { close(started) }) }
	go func() {
		defer close(applied)
		<-started
		for i := range txns {
			mu.Lock()
			t.Apply(&txns[i], nil)
			mu.Unlock()
		}
	}()
	withReadLock = func(f func()) {
		mu.RLock()
		f()
		mu.RUnlock()
		start()
	}
	return withReadLock, func() { start(); <-applied }
}

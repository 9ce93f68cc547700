package engine_test

import (
	"zkd/broadcast"
	"zkd/engine"
)

// The durable log plugs into the pipeline behind broadcast.Log.
var _ broadcast.Log = (*engine.Log)(nil)

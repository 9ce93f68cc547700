package engine_test

import (
	"zkd/broadcast"
	"zkd/engine"
)

// The durable log plugs into the pipeline behind broadcast.PipelinedLog,
// so the next batch is prepared while the current one syncs.
var _ broadcast.PipelinedLog = (*engine.Log)(nil)

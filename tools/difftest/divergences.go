package difftest

import "strings"

// Divergence is a permanent, deliberate difference from Apache ZooKeeper
// 3.8.0, where the reference's answer is a defect zkd does not copy. Each
// has an entry in DIVERGENCES.md. The generator sends only divergences that
// leave the reference running and change no state, so comparison goes on
// after them; requests that crash or hang the reference are never sent
// (checkSafe) and are tested against zkd alone.
type Divergence struct {
	ID    string
	Match func(m *Mismatch) bool
	// Stops: the servers' states differ afterwards, so the rest of the
	// sequence is not compared.
	Stops bool
}

// Divergences mirrors DIVERGENCES.md.
var Divergences = []Divergence{
	{
		// removeWatches/checkWatches with watcher type 4 or 5, which 3.8.0's
		// WatcherType does not know: MarshallingError there, BadArguments in
		// zkd (DESIGN.md).
		ID: "watcher-type-unknown",
		Match: func(m *Mismatch) bool {
			op := m.op()
			return (op == "checkWatches" || op == "removeWatches") &&
				(strings.HasSuffix(m.Label, " type=4") || strings.HasSuffix(m.Label, " type=5")) &&
				sameBut(m, "BadArguments", "MarshallingError")
		},
	},
	{
		// checkWatches: 3.8.0's WatchManager.containsWatcher answers true when
		// any connection watches the exact path; zkd looks at the caller's
		// own watches only.
		ID: "checkwatches-other-session",
		Match: func(m *Mismatch) bool {
			return m.op() == "checkWatches" && sameBut(m, "NoWatcher", "OK")
		},
	},
	{
		// A create, create2 or createContainer op with a TTL mode (5, 6)
		// inside a multi: 3.8.0 retypes it as createTTL but keeps the
		// CreateRequest, and the cast to CreateTTLRequest throws
		// ClassCastException: MarshallingError for the whole multi. zkd
		// fails the op with BadArguments, as the same create does alone.
		ID: "multi-ttl-mode-classcast",
		Match: func(m *Mismatch) bool {
			if m.op() != "multi" || m.Ref.Code != "MarshallingError" || m.Zkd.Code != "OK" ||
				!strings.Contains(m.Zkd.Body, "error(BadArguments)") {
				return false
			}
			for _, op := range multiOps(m.Label) {
				name, mode := multiOpMode(op)
				if (name == "create" || name == "create2" || name == "createContainer") && (mode == 5 || mode == 6) {
					return true
				}
			}
			return false
		},
	},
	{
		// A request pipelined behind a setACL, prepared before the setACL
		// commits: 3.8.0's PrepRequestProcessor records the setACL's pending
		// change with the node's old ACL (it updates the aversion only), so
		// the request is checked against the ACL being replaced. zkd checks
		// the new one. ZooKeeper's answer depends on timing.
		ID: "pipelined-setacl-stale-acl",
		Match: func(m *Mismatch) bool {
			return m.setACLEarlierInBatch() && (m.Zkd.Code == "NoAuth" || m.Ref.Code == "NoAuth" ||
				strings.Contains(m.Zkd.Body, "NoAuth") || strings.Contains(m.Ref.Body, "NoAuth"))
		},
		Stops: true,
	},
	{
		// A create pipelined behind a createContainer whose flags say
		// ephemeral (1 or 3): 3.8.0's PrepRequestProcessor records the
		// pending node by its mode, as an ephemeral, while the txn (typed
		// by the opcode) makes a container. So a child create prepared
		// before the container commits fails with NoChildrenForEphemerals,
		// and the same create sent a moment later succeeds. zkd's overlay
		// records the container it will be, so it always succeeds.
		// ZooKeeper's answer depends on timing.
		ID: "pipelined-container-ephemeral-mode",
		Match: func(m *Mismatch) bool {
			if !strings.HasPrefix(m.op(), "create") || m.Ref.Code != "NoChildrenForEphemerals" || m.Zkd.Code != "OK" {
				return false
			}
			return m.earlierInBatch(func(label string, a Answer) bool {
				return strings.Contains(label, " createContainer ") && a.Code == "OK" &&
					(strings.HasSuffix(label, " mode=1") || strings.HasSuffix(label, " mode=3") ||
						strings.Contains(label, " mode=1 ") || strings.Contains(label, " mode=3 "))
			})
		},
		Stops: true,
	},
	{
		// checkWatches with a path that holds no "/": 3.8.0's
		// PathParentIterator computes the parent with
		// substring(0, lastIndexOf('/')) = substring(0, -1) and throws
		// StringIndexOutOfBoundsException: MarshallingError. zkd answers
		// as for any other path: OK when the connection watches it (a
		// setWatches can register such a path), else NoWatcher.
		ID: "checkwatches-no-slash",
		Match: func(m *Mismatch) bool {
			f := strings.Fields(m.Label)
			return m.op() == "checkWatches" && len(f) > 2 && !strings.Contains(f[2], "/") && f[2] != `""` &&
				(sameBut(m, "NoWatcher", "MarshallingError") || sameBut(m, "OK", "MarshallingError"))
		},
	},
}

func matchDivergence(m *Mismatch) (id string, stops bool) {
	for _, d := range Divergences {
		if d.Match(m) {
			return d.ID, d.Stops
		}
	}
	return "", false
}

// setACLEarlierInBatch reports whether the differing entry was pipelined
// behind a successful setACL of the same batch.
func (m *Mismatch) setACLEarlierInBatch() bool {
	return m.earlierInBatch(func(label string, a Answer) bool {
		return strings.Contains(label, " setACL ") && a.Code == "OK"
	})
}

// earlierInBatch reports whether the differing entry was pipelined behind
// an entry of the same batch for which match holds (in the reference's
// transcript).
func (m *Mismatch) earlierInBatch(match func(label string, a Answer) bool) bool {
	tr := m.RefT
	if m.At >= len(tr.Batch) || tr.Batch[m.At] == "" {
		return false
	}
	for i := m.At - 1; i >= 0 && tr.Step[i] == tr.Step[m.At]; i-- {
		if match(tr.Labels[i], tr.Answers[i]) {
			return true
		}
	}
	return false
}

// sameBut reports whether the answers differ only in their codes, zkd
// answering zkdCode and the reference refCode.
func sameBut(m *Mismatch, zkdCode, refCode string) bool {
	if m.Zkd.Code != zkdCode || m.Ref.Code != refCode {
		return false
	}
	z, r := m.Zkd, m.Ref
	z.Code, r.Code = "", ""
	return z.String() == r.String()
}

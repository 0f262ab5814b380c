package policy

// ReadsObjects reports whether a loaded rule reads input.object or
// input.oldObject, so callers hand the raw objects (Request.ObjectJSON,
// OldObjectJSON) over only when some rule needs them.
func (g *Guard) ReadsObjects() bool { return g.state.Load().policy.readsObjects }

package linkd

import "sync"

// WorkKind names a kind of background work that a commit can make due.
type WorkKind string

// WorkWebhooks is due webhook deliveries.
const WorkWebhooks WorkKind = "webhooks"

// WorkSignals lets a background loop start on work right after the commit
// that made it, instead of at its next poll: a webhook is sent
// milliseconds after the change it announces, not up to a poll later.
type WorkSignals interface {
	// OnWork has fn called after each commit that made work of kind due:
	// at once after this process's commits and, where several instances
	// share the database, soon after another instance's. fn must not
	// block. A signal may be spurious (a rolled-back part of a group
	// commit) or lost (a crash right after the commit, a dropped
	// connection), so loops still poll; signals only shorten the wait.
	OnWork(kind WorkKind, fn func())
}

// WorkListeners is the registry of OnWork callbacks a store keeps; the
// zero value is ready to use.
type WorkListeners struct {
	mu  sync.RWMutex
	fns map[WorkKind][]func()
}

// OnWork implements WorkSignals' registration.
func (w *WorkListeners) OnWork(kind WorkKind, fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = map[WorkKind][]func(){}
	}
	w.fns[kind] = append(w.fns[kind], fn)
}

// Notify calls the callbacks registered for kind.
func (w *WorkListeners) Notify(kind WorkKind) {
	w.mu.RLock()
	fns := w.fns[kind]
	w.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}

// NotifyAll calls every callback, of every kind: after a pause in which
// signals may have been missed.
func (w *WorkListeners) NotifyAll() {
	w.mu.RLock()
	var all []func()
	for _, fns := range w.fns {
		all = append(all, fns...)
	}
	w.mu.RUnlock()
	for _, fn := range all {
		fn()
	}
}

// WorkMarks collects the kinds of work one transaction made, for the
// store to signal once it commits; the zero value is ready to use.
type WorkMarks struct{ kinds []WorkKind }

// Mark records that the transaction made work of kind.
func (m *WorkMarks) Mark(kind WorkKind) {
	for _, k := range m.kinds {
		if k == kind {
			return
		}
	}
	m.kinds = append(m.kinds, kind)
}

// Kinds returns the kinds marked, in the order first marked.
func (m *WorkMarks) Kinds() []WorkKind { return m.kinds }

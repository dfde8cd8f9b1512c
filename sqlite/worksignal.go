package sqlite

import "github.com/linkd-dev/linkd"

// OnWork implements linkd.WorkSignals. One process owns a SQLite database,
// so every commit that makes work is this process's: fn runs right after
// the group commit that made it.
func (s *Store) OnWork(kind linkd.WorkKind, fn func()) { s.work.OnWork(kind, fn) }

// markWork records that tx made work of kind, signalled once it commits.
func markWork(tx *wtx, kind linkd.WorkKind) { tx.marks.Mark(kind) }

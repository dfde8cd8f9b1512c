package postgres

import "context"

// AutovacuumOff reports whether the server's autovacuum is switched off.
// linkd rewrites rows often (upserts, counters, leases), and every update
// leaves a dead row version behind; without autovacuum they pile up and
// every query reads through them: a 3-minute soak on a server with it off
// halved its throughput as the dead versions outnumbered the live rows
// (docs/RELIABILITY.md, Soak). It answers false when the setting cannot be
// read (PostgreSQL-compatible servers that vacuum on their own terms).
func (s *Store) AutovacuumOff(ctx context.Context) bool {
	var v string
	if err := s.pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&v); err != nil {
		return false
	}
	return v == "off"
}

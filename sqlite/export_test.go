package sqlite

// SearchProbe lets the tests force a search onto the index path (a large
// probe: every query is rare) or the scan path (1: every query is common).
var SearchProbe = &searchProbe

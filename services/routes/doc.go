// Package routes is the routing service (service 10): every tile learns the
// whole grid's links by link-state flooding, and from them a route to every
// tile it can reach.
//
// Each tile describes itself in one link-state message (LSA, wire.go): its
// identity, a sequence number and its live neighbours by link. It sends a new
// one when a neighbour comes or goes and refreshes it rarely; every tile
// keeps the newest LSA of every origin (lsdb.go) and floods one it had not
// seen to its other neighbours, reliably: each LSA sent on a link waits for
// the neighbour's acknowledgement and is sent again until it comes or the
// neighbour goes. A link counts only when both its ends list it, with
// opposite directions, so a tile cannot claim a neighbour that does not
// claim it back. Routes are shortest paths in hops over those links
// (graph.go): the next link, the hops, the alternative next links that do
// not loop back, and on demand up to three link-disjoint paths.
//
// The service is one goroutine (service.go) that owns the database; status
// and the control command `route` read an immutable snapshot of the graph
// it publishes after each change.
package routes

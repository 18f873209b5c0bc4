// Package tep builds, parses and delivers Tile Event Packets.
//
// A Tile Event Packet reports that the tile at the far end of a link
// appeared (connect) or went away (disconnect). itcd emits one on every
// change of a neighbour's liveness, on the wire form
//
//	0xC4 EVENT DIR8 ID0..ID7
//
// where DIR8 is the link the event is about and ID the far tile's 8-byte
// identity (all zero on a disconnect whose tile was never identified). One
// channel carries events for all links, so the direction travels inside the
// packet. A Hub hands each event to every subscriber (mfmt2's socket, the
// service-socket clients, in-process services) without ever blocking the
// publisher.
package tep

// Package daemon is the tile daemon: it reads every packet from the tile's
// packet device and hands it to whoever must have it (mfmt2 on mfm.sock,
// in-process services, service.sock clients), keeps a model of the tile on
// each of the six links (linkmodel.go, wired in neighbour.go), queues what
// goes out per link and per service, and answers the control socket.
// A copy of every packet read and written, for `itcd capture`, goes to
// the captures that run (capturetap.go) and over control.sock to their
// clients (capturesock.go).
// Services implement the contract in package p2p; this package imports
// none of them.
package daemon

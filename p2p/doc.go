// Package p2p is the contract between the itcd daemon and its
// peer-to-peer services: what a service is (Service), what the daemon
// offers it (Host), what it receives (Inbox, Message, Event) and who its
// neighbours are (Neighbour, TileID).
//
// A service imports this package and never the daemon; the daemon
// implements Host and imports no service. The package imports only
// itc/packet, so a service and its tests build without the daemon, its
// sockets or its configuration file.
package p2p

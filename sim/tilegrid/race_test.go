//go:build race

package tilegrid

const raceEnabled = true

//go:build !linux

package engineio

// parkSupported: without the park watcher (park_linux.go) a parked GET's
// hang-up would go unnoticed, so GETs are held by their handler.
const parkSupported = false

type parkWatcher struct{}

type parkWatch struct{}

func (pw *parkWatcher) ready(*Server) bool { return false }

func (pw *parkWatcher) stop() {}

func (pw *parkWatcher) watch(*Session, *parkedPoll) {}

func (pw *parkWatcher) unwatch(*parkedPoll) {}

package engineio

// CountByTransport returns the number of open sessions on each transport
// ("websocket", "polling"), for metrics. It walks the sessions under the
// server lock, so it is meant for a scrape, not a hot path.
func (srv *Server) CountByTransport() map[string]int {
	srv.mu.RLock()
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.RUnlock()
	out := map[string]int{"websocket": 0, "polling": 0}
	for _, s := range list {
		out[s.Transport()]++
	}
	return out
}

// SlowConsumerDisconnects returns how many sessions were closed for
// overflowing their send queue (ReasonSlowConsumer) since the server
// started.
func (srv *Server) SlowConsumerDisconnects() uint64 { return srv.slowConsumers.Load() }

package main

import (
	"context"
	"fmt"
	"log/slog"
)

// redisLogger routes go-redis's own messages (a failed dial on every
// reconnection attempt while Redis is down) to the debug level: the
// cluster logs the outage and its end once, at warn and info.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

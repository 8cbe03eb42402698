package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"slices"
	"time"

	"github.com/parley-rt/parley/redisadapter"
	"github.com/parley-rt/parley/socketio"
)

// clusterFlags are the cluster additions of TESTSERVER.md: with
// --redis-url the server joins a cluster on Redis, as the Node reference
// e2e/cluster/node-server.mjs does with @socket.io/redis-adapter.
type clusterFlags struct {
	url, prefix, name string
	cluster           *redisadapter.Cluster
}

func (c *clusterFlags) register() {
	flag.StringVar(&c.url, "redis-url", "", "Redis of the cluster; empty: a single node")
	flag.StringVar(&c.prefix, "redis-prefix", "socket.io", "prefix of the cluster's channels")
	flag.StringVar(&c.name, "name", "parley", "node name, in answers to server-side emits")
}

// setup puts the server on the cluster's adapter; the returned func closes
// the cluster.
func (c *clusterFlags) setup(cfg *socketio.Config, logger *slog.Logger) (func(), error) {
	if c.url == "" {
		return func() {}, nil
	}
	cl, err := redisadapter.New(redisadapter.Config{URL: c.url, Prefix: c.prefix, Logger: logger, RequestTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	cl.Start()
	c.cluster = cl
	cfg.Adapter = cl.Adapter
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = cl.Close(ctx) // the process is exiting
	}, nil
}

// handlers installs the cluster additions on "/".
func (c *clusterFlags) handlers(io *socketio.Server) {
	root := io.Of("/")
	root.OnServerSideEmit("cluster-hello", func(args *socketio.Args, ack socketio.AckFunc) {
		vals, err := args.Values()
		if err != nil {
			return
		}
		_ = root.Local().Emit("server-side", vals...) // best effort per socket
		if ack != nil {
			_ = ack(map[string]string{"node": c.name}) // the requester times out without it
		}
	})
	// A middleware sets the data before the socket connects (and before
	// the "info" of the first connection handler).
	root.Use(func(s *socketio.Socket) error {
		var auth struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(s.Auth(), &auth) // no data in the auth: none set
		for k, v := range auth.Data {
			s.Set(k, v)
		}
		return nil
	})
	root.OnConnection(func(s *socketio.Socket) {
		s.On("server-count", func(s *socketio.Socket, _ *socketio.Args, ack socketio.AckFunc) {
			n, err := root.ServerCount(s.Context())
			if err != nil {
				n = -1
			}
			reply(ack, n)
		})
		s.On("fetch-sockets-full", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var room *string
			_ = args.Decode(0, &room) // null means all
			op := root.To()
			if room != nil {
				op = op.To(*room)
			}
			all, err := op.FetchAllSockets(s.Context())
			type desc struct {
				ID        string          `json:"id"`
				Rooms     []string        `json:"rooms"`
				Data      json.RawMessage `json:"data"`
				Handshake json.RawMessage `json:"handshake"`
			}
			out := []desc{}
			for _, x := range all {
				rooms := slices.Sorted(slices.Values(x.Rooms))
				out = append(out, desc{x.ID, rooms, x.Data, x.Handshake})
			}
			slices.SortFunc(out, func(a, b desc) int {
				if a.ID < b.ID {
					return -1
				}
				return 1
			})
			var e any
			if err != nil {
				e = err.Error()
			}
			reply(ack, map[string]any{"error": e, "sockets": out})
		})
		s.On("server-side-emit", func(s *socketio.Socket, args *socketio.Args, ack socketio.AckFunc) {
			var o struct {
				WithAck bool `json:"withAck"`
				Timeout int  `json:"timeout"`
			}
			if args.Decode(0, &o) != nil {
				return
			}
			emitted := fieldArgs(args, "args")
			if !o.WithAck {
				if err := root.ServerSideEmit("cluster-hello", emitted...); err != nil {
					reply(ack, err.Error())
					return
				}
				reply(ack, "ok")
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.Timeout)*time.Millisecond)
				defer cancel()
				res, err := root.ServerSideEmitWithAck(ctx, "cluster-hello", emitted...)
				responses := []json.RawMessage{}
				for _, r := range res {
					if r.Len() > 0 {
						responses = append(responses, r.Raw(0))
					}
				}
				var e any
				if err != nil {
					e = err.Error()
				}
				reply(ack, map[string]any{"error": e, "responses": responses})
			}()
		})
	})
}

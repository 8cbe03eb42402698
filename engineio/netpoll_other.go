//go:build !linux

package engineio

import (
	"bufio"
	"net"
)

// netpoller is Linux's epoll watcher of idle WebSocket connections
// (netpoll_linux.go); elsewhere every WebSocket has a reader goroutine.
type netpoller struct{}

// pollConn is never made here.
type pollConn struct{ net.Conn }

func (srv *Server) pollable(net.Conn) *pollConn { return nil }

func (srv *Server) netpollRead(*Session, net.Conn, *bufio.Reader) bool { return false }

func (np *netpoller) stop() {}

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// serveGobwas uses gobwas/ws's low-level API, as its README shows: the
// handshake with UpgradeHTTP, frames read with ReadHeader and Cipher, frames
// written with WriteFrame, or pre-compiled once with CompileFrame for a
// broadcast. The reader keeps a small bufio.Reader; the writer borrows a
// pooled bufio.Writer for each burst, so that an idle connection holds no
// write buffer.
func serveGobwas(srv *server, w http.ResponseWriter, r *http.Request) {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close() // UpgradeHTTP has answered with an HTTP error
		}
		return
	}
	br := rw.Reader
	if br.Buffered() == 0 {
		// Drop net/http's 4 KiB buffer: most connections are idle.
		br = bufio.NewReaderSize(conn, readBufferSize)
	}
	s := srv.newSession()
	if !srv.start(s, &gobwasWire{conn: conn}, func() error { return s.readGobwas(br) }) {
		_ = conn.Close() // shutting down
	}
}

// prepareGobwas compiles a broadcast's frame once; every writer copies the
// same bytes.
func prepareGobwas(text []byte) *message {
	return &message{text: text, frame: ws.MustCompileFrame(ws.NewTextFrame(text))}
}

// readGobwas reads frames until the connection fails or closes. Control
// frames are answered through the writer goroutine, which owns writes.
func (s *session) readGobwas(br *bufio.Reader) error {
	var buf []byte // the message being read, reused: onPacket does not keep it
	fragmented := false
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return err
		}
		if h.Rsv != 0 || !h.Masked {
			return errProtocol
		}
		if h.OpCode.IsControl() {
			if !h.Fin || h.Length > 125 {
				return errProtocol
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(br, p); err != nil {
				return err
			}
			ws.Cipher(p, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				s.queue(&message{frame: ws.MustCompileFrame(ws.NewPongFrame(p))})
			case ws.OpClose:
				return errClientClose // the writer answers with a close frame
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && !fragmented,
			h.OpCode != ws.OpContinuation && fragmented:
			return errProtocol
		case h.OpCode == ws.OpBinary:
			return errParse
		case h.OpCode != ws.OpText && h.OpCode != ws.OpContinuation:
			return errProtocol
		}
		if !fragmented {
			buf = buf[:0]
		}
		if int64(len(buf))+h.Length > maxPayload {
			return errTooLarge
		}
		start := len(buf)
		buf = append(buf, make([]byte, h.Length)...)
		if _, err := io.ReadFull(br, buf[start:]); err != nil {
			return err
		}
		ws.Cipher(buf[start:], h.Mask, 0)
		if !h.Fin {
			fragmented = true
			continue
		}
		fragmented = false
		if err := s.onPacket(buf); err != nil {
			return err
		}
	}
}

// writerPool holds the buffered writers that bursts borrow.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

type gobwasWire struct {
	conn net.Conn
	bw   *bufio.Writer // borrowed from writerPool during a burst, else nil
}

// write appends m's frame to the burst's buffer.
func (g *gobwasWire) write(m *message) error {
	if g.bw == nil {
		g.bw = writerPool.Get().(*bufio.Writer)
		g.bw.Reset(g.conn)
		if err := g.conn.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
			return err
		}
	}
	if m.frame != nil {
		_, err := g.bw.Write(m.frame)
		return err
	}
	return ws.WriteFrame(g.bw, ws.NewTextFrame(m.text))
}

// flush writes the burst, usually in one system call, and returns the
// buffer to the pool.
func (g *gobwasWire) flush() error {
	if g.bw == nil {
		return nil
	}
	err := g.bw.Flush()
	g.bw.Reset(nil)
	writerPool.Put(g.bw)
	g.bw = nil
	return err
}

func (g *gobwasWire) close(code int, reason string) {
	_ = g.conn.SetWriteDeadline(time.Now().Add(time.Second)) // best effort, as the write
	f := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusCode(code), reason))
	_ = ws.WriteFrame(g.conn, f) // best effort: the peer may be gone
	_ = g.conn.Close()           // ends the reader
}

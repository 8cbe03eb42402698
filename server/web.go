package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// webFS holds the demo chat page: index.html and app.css are written by
// hand; assets/app.js is the client-js bundle, built by
// `npm run build:demo -w client-js` and committed, so that `go run
// ./cmd/parley` serves the page without a JavaScript toolchain (CI checks
// that the committed bundle is up to date).
//
//go:embed web
var webFS embed.FS

// webAsset is one embedded file, ready to serve.
type webAsset struct {
	body        []byte
	contentType string
	etag        string
}

// webTypes are the content types of the demo's files, fixed rather than
// read from the system's MIME table, which varies between machines.
var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// webCSP confines the demo page to its own origin: its script, its style
// and its Socket.IO connection (connect-src 'self' covers ws: and wss: to
// the same host).
const webCSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webRoutes serves the demo page at /, the plain-WebSocket page at
// /ws.html, and their files under /assets/. The
// page is in the binary; every response is revalidated by ETag, so a
// rebuilt binary never serves a stale script.
func webRoutes(r *gin.Engine) {
	assets := loadWebAssets()
	serve := func(c *gin.Context, name string) {
		a, ok := assets[name]
		if !ok {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasSuffix(name, ".html") {
			h.Set("Content-Security-Policy", webCSP)
		}
		if match := c.GetHeader("If-None-Match"); match != "" && match == a.etag {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, a.contentType, a.body)
	}
	page := func(c *gin.Context) { serve(c, "index.html") }
	r.GET("/", page)
	r.HEAD("/", page)
	// The same chat over /ws with the browser's WebSocket (no bundle).
	wsPage := func(c *gin.Context) { serve(c, "ws.html") }
	r.GET("/ws.html", wsPage)
	r.HEAD("/ws.html", wsPage)
	// The name is looked up as given (not cleaned): only the exact name of an
	// embedded file under assets/ is served.
	file := func(c *gin.Context) { serve(c, "assets/"+strings.TrimPrefix(c.Param("file"), "/")) }
	r.GET("/assets/*file", file)
	r.HEAD("/assets/*file", file)
}

// loadWebAssets reads every embedded file once. The embedded tree is fixed
// at build time, so a read error is a broken build: it panics.
func loadWebAssets() map[string]webAsset {
	root, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("server: embedded web tree: " + err.Error())
	}
	out := map[string]webAsset{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := webTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		out[name] = webAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("server: embedded web tree: " + err.Error())
	}
	return out
}

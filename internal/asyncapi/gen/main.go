// Command gen writes the AsyncAPI document of the contract to the file
// named by its argument: `go generate ./internal/asyncapi` writes
// docs/asyncapi.json.
package main

import (
	"fmt"
	"os"

	"github.com/parley-rt/parley/internal/asyncapi"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen <output file>")
		os.Exit(2)
	}
	doc, err := asyncapi.Document()
	if err == nil {
		err = os.WriteFile(os.Args[1], doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

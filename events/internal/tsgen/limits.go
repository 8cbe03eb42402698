package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// limit is one constant of events/limits.go.
type limit struct {
	goName string
	tsName string
	// doc is the constant's doc comment, unwrapped into paragraphs.
	doc   []string
	value constant.Value
}

// readLimits parses and type-checks the file of limits on its own (it
// imports nothing and its constants refer only to each other), so the
// generator gets each constant's exact value and its doc comment.
func readLimits(path string) ([]limit, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{}).Check("events", fset, []*ast.File{f}, info); err != nil {
		return nil, fmt.Errorf("%s must type-check on its own: %w", path, err)
	}
	var out []limit
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			return nil, fmt.Errorf("%s: only constants belong in the file of limits", fset.Position(decl.Pos()))
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for _, name := range vs.Names {
				if !name.IsExported() {
					return nil, fmt.Errorf("%s: limit %s is not exported", fset.Position(name.Pos()), name.Name)
				}
				if vs.Doc == nil || !strings.HasPrefix(vs.Doc.Text(), name.Name+" ") {
					return nil, fmt.Errorf("%s: limit %s needs a doc comment that starts with its name", fset.Position(name.Pos()), name.Name)
				}
				c, ok := info.Defs[name].(*types.Const)
				if !ok {
					return nil, fmt.Errorf("%s: %s is not a constant", fset.Position(name.Pos()), name.Name)
				}
				out = append(out, limit{goName: name.Name, tsName: screamingSnake(name.Name), doc: paragraphs(vs.Doc.Text()), value: c.Val()})
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New(path + " declares no limits")
	}
	return out, nil
}

// screamingSnake turns a Go name into the TypeScript convention for
// constants, keeping initialisms whole: MaxClientMsgIDChars becomes
// MAX_CLIENT_MSG_ID_CHARS.
func screamingSnake(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prevLower := !unicode.IsUpper(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

// paragraphs splits a doc comment into paragraphs of single-spaced text.
func paragraphs(doc string) []string {
	var out []string
	for _, p := range strings.Split(strings.TrimSpace(doc), "\n\n") {
		out = append(out, strings.Join(strings.Fields(p), " "))
	}
	return out
}

// tsLiteral writes a constant's value as a TypeScript literal.
func tsLiteral(v constant.Value) (string, error) {
	switch v.Kind() {
	case constant.Int, constant.Float:
		f, exact := constant.Float64Val(v)
		if !exact {
			return "", fmt.Errorf("%v has no exact float64", v)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case constant.String:
		return strconv.Quote(constant.StringVal(v)), nil
	case constant.Bool:
		return strconv.FormatBool(constant.BoolVal(v)), nil
	}
	return "", fmt.Errorf("%v has no TypeScript literal", v)
}

// writeLimits writes each limit as an exported const with its doc comment,
// in which the Go names of limits become their TypeScript names.
func writeLimits(b *bytes.Buffer, limits []limit) error {
	var renames []string
	for _, l := range limits {
		renames = append(renames, l.goName, l.tsName)
	}
	words := regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*\b`)
	rename := func(s string) string {
		return words.ReplaceAllStringFunc(s, func(w string) string {
			for i := 0; i < len(renames); i += 2 {
				if renames[i] == w {
					return renames[i+1]
				}
			}
			return w
		})
	}
	for _, l := range limits {
		lit, err := tsLiteral(l.value)
		if err != nil {
			return fmt.Errorf("limit %s: %w", l.goName, err)
		}
		b.WriteString("\n/**\n")
		for i, p := range l.doc {
			if i > 0 {
				b.WriteString(" *\n")
			}
			for _, line := range wrap(rename(p), maxLine-len(" * ")) {
				b.WriteString(" * " + line + "\n")
			}
		}
		b.WriteString(" */\n")
		fmt.Fprintf(b, "export const %s = %s;\n", l.tsName, lit)
	}
	return nil
}

// wrap breaks text into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

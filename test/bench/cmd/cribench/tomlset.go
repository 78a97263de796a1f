package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// cmdTOMLSet prints the TOML file --base with each --set key.path=<TOML value> applied. A
// key whose parent table does not exist in the base is skipped with a warning on stderr
// (the daemon under test may not have that section yet); --add creates missing tables.
func cmdTOMLSet(args []string) error {
	fs := flag.NewFlagSet("cribench tomlset", flag.ExitOnError)
	base := fs.String("base", "", "TOML file to start from")
	var sets, adds multiFlag
	fs.Var(&sets, "set", "key.path=<TOML value>, applied when the key's table exists (repeatable)")
	fs.Var(&adds, "add", "key.path=<TOML value>, creating missing tables (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	doc := map[string]any{}
	if *base != "" {
		b, err := os.ReadFile(*base)
		if err != nil {
			return err
		}
		if err := toml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", *base, err)
		}
	}
	for i, list := range [][]string{sets, adds} {
		for _, s := range list {
			if err := setKey(doc, s, i == 1); err != nil {
				return err
			}
		}
	}
	out, err := toml.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

func setKey(doc map[string]any, assignment string, create bool) error {
	key, raw, ok := strings.Cut(assignment, "=")
	if !ok {
		return fmt.Errorf("--set %q: want key.path=value", assignment)
	}
	var holder map[string]any
	if err := toml.Unmarshal([]byte("v = "+raw), &holder); err != nil {
		return fmt.Errorf("--set %q: value is not TOML: %w", assignment, err)
	}
	parts := strings.Split(key, ".")
	table := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := table[p].(map[string]any)
		if !ok {
			if !create {
				fmt.Fprintf(os.Stderr, "cribench tomlset: no table for %q in the base; skipped\n", key)
				return nil
			}
			next = map[string]any{}
			table[p] = next
		}
		table = next
	}
	table[parts[len(parts)-1]] = holder["v"]
	return nil
}

package check

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Block is a block of an nfs-ganesha configuration: NAME { key = value; ... }.
type Block struct {
	Name   string
	Params map[string]string // lower-cased keys; values unquoted, lists as written
	Blocks []*Block
}

// ParseGanesha reads a ganesha configuration, following %include lines
// through read (relative paths from the including file's directory).
func ParseGanesha(path string, read func(string) ([]byte, error)) (*Block, error) {
	root := &Block{Name: "", Params: map[string]string{}}
	toks, err := ganeshaTokens(path, read, 0)
	if err != nil {
		return nil, err
	}
	stack := []*Block{root}
	for i := 0; i < len(toks); i++ {
		cur := stack[len(stack)-1]
		t := toks[i]
		switch {
		case t == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("%s: unbalanced }", path)
			}
			stack = stack[:len(stack)-1]
		case i+1 < len(toks) && toks[i+1] == "{":
			b := &Block{Name: strings.ToUpper(t), Params: map[string]string{}}
			cur.Blocks = append(cur.Blocks, b)
			stack = append(stack, b)
			i++
		case i+1 < len(toks) && toks[i+1] == "=":
			var val []string
			j := i + 2
			for ; j < len(toks) && toks[j] != ";" && toks[j] != "}"; j++ {
				val = append(val, toks[j])
			}
			cur.Params[strings.ToLower(t)] = strings.Join(val, " ")
			i = j
			if j < len(toks) && toks[j] == "}" {
				i--
			}
		case t == ";":
		default:
			return nil, fmt.Errorf("%s: unexpected %q", path, t)
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("%s: unclosed block %s", path, stack[len(stack)-1].Name)
	}
	return root, nil
}

func ganeshaTokens(path string, read func(string) ([]byte, error), depth int) ([]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%s: %%include nested too deep", path)
	}
	b, err := read(path)
	if err != nil {
		return nil, err
	}
	var toks []string
	for _, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "%include") {
			inc := strings.Trim(strings.TrimSpace(strings.TrimPrefix(trim, "%include")), `"`)
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(path), inc)
			}
			sub, err := ganeshaTokens(inc, read, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			toks = append(toks, sub...)
			continue
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case c == '#':
				i = len(line)
			case c == ' ' || c == '\t' || c == '\r' || c == ',':
			case c == '{' || c == '}' || c == '=' || c == ';':
				toks = append(toks, string(c))
			case c == '"':
				j := strings.IndexByte(line[i+1:], '"')
				if j < 0 {
					return nil, fmt.Errorf("%s: unterminated string", path)
				}
				toks = append(toks, line[i+1:i+1+j])
				i += j + 1
			default:
				j := i
				for j < len(line) && !strings.ContainsRune(" \t\r,{}=;#\"", rune(line[j])) {
					j++
				}
				toks = append(toks, line[i:j])
				i = j - 1
			}
		}
	}
	return toks, nil
}

// Find returns the blocks named name (upper case) anywhere below b.
func (b *Block) Find(name string) []*Block {
	var out []*Block
	for _, c := range b.Blocks {
		if c.Name == name {
			out = append(out, c)
		}
		out = append(out, c.Find(name)...)
	}
	return out
}

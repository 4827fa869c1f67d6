package cmdline

import "strings"

// token is one word of the command line, split like the kernel's next_arg.
type token struct {
	key, val     string
	hasVal       bool // the word had an '=' (val may be empty)
	unterminated bool // an opening double quote was never closed
}

// isSpace is the kernel's isspace for ASCII.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// tokenize splits s the way the kernel's next_arg does: words are
// separated by white space outside double quotes; a word may be wholly
// quoted ("a=b c") or have a quoted value (a="b c"), and those quotes are
// dropped; a '=' at the very start of a word does not split it.
func tokenize(s string) []token {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return toks
		}
		quoted := s[i] == '"'
		if quoted {
			i++
		}
		inQuote := quoted
		start, equals := i, -1
		for ; i < len(s); i++ {
			c := s[i]
			if isSpace(c) && !inQuote {
				break
			}
			if equals < 0 && c == '=' && i > start {
				equals = i
			}
			if c == '"' {
				inQuote = !inQuote
			}
		}
		t := token{unterminated: inQuote}
		stripped := false
		if equals < 0 {
			t.key = s[start:i]
		} else {
			t.key, t.val, t.hasVal = s[start:equals], s[equals+1:i], true
			if strings.HasPrefix(t.val, `"`) {
				t.val = strings.TrimSuffix(t.val[1:], `"`)
				stripped = true
			}
		}
		if quoted && !stripped {
			if t.hasVal {
				t.val = strings.TrimSuffix(t.val, `"`)
			} else {
				t.key = strings.TrimSuffix(t.key, `"`)
			}
		}
		toks = append(toks, t)
	}
}

// isDashes reports whether t is the "--" that ends the parameters: the
// kernel hands the words after it to init.
func (t token) isDashes() bool { return t.key == "--" && !t.hasVal }

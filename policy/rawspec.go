package policy

// This file settles the most common update of a rollout, a step that
// changes nothing but canary percents, on the raw specs instead of the
// decoded ones. The API server writes the old and the new object of a
// review the same way (keys sorted, no spaces), so such a step leaves the
// two specs byte for byte the same outside the percent numbers, and
// comparing bytes costs a fraction of normalising and comparing the
// decoded components field by field. Anything else, specs written
// differently included, falls back to that comparison.
//
// The scanner below is hand-written rather than jsontext's tokenizer:
// reading both specs token by token would cost much of what skipping the
// comparison saves, while the scanner only follows depth, strings and the
// member names of the first two levels, over the bytes up to each
// difference. The specs were decoded already, so it need not validate.

// percentComponents are the members of spec whose canaryTrafficPercent
// the fast path may see change.
var percentComponents = map[string]bool{"predictor": true, "transformer": true, "explainer": true}

const percentMember = "canaryTrafficPercent"

// onlyPercentsDiffer reports whether two raw InferenceService specs (JSON
// objects) are the same byte for byte except for the values, numbers or
// null, of canaryTrafficPercent members directly under spec.predictor,
// spec.transformer or spec.explainer. It assumes valid JSON (the specs
// were decoded): a false answer only means "compare the decoded specs".
func onlyPercentsDiffer(oldSpec, newSpec []byte) bool {
	var s specScanner
	a, b := oldSpec, newSpec
	for {
		n := commonPrefix(a, b)
		if n == len(a) && n == len(b) {
			return true
		}
		s.scan(a[:n])
		if !s.inPercentValue() {
			return false
		}
		// The difference lies in a percent value: skip both values to
		// their ends and go on with what follows them.
		ea, eb := n+scalarLen(a[n:]), n+scalarLen(b[n:])
		if !isPercentValue(s.valuePrefix, a[n:ea]) || !isPercentValue(s.valuePrefix, b[n:eb]) {
			return false
		}
		s.afterColon = false
		a, b = a[ea:], b[eb:]
	}
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// scalarLen is the length of the number or literal a starts with (the
// rest of one, when a difference falls inside it).
func scalarLen(a []byte) int {
	for i, c := range a {
		if !isScalarByte(c) {
			return i
		}
	}
	return len(a)
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// isPercentValue reports whether prefix followed by rest is a JSON
// integer or null.
func isPercentValue(prefix, rest []byte) bool {
	if len(prefix) == 0 && string(rest) == "null" {
		return true
	}
	n, digits := 0, 0
	for _, part := range [2][]byte{prefix, rest} {
		for _, c := range part {
			switch {
			case c >= '0' && c <= '9':
				digits++
			case c != '-' || n > 0:
				return false
			}
			n++
		}
	}
	return digits > 0
}

// specScanner follows the structure of a spec's JSON far enough to tell
// where a byte lies: the nesting depth, whether it is inside a string, and
// the member names at the first two levels.
type specScanner struct {
	depth    int
	inString bool
	escaped  bool
	// objects[d] is true when the container at depth d (1 or 2) is an object.
	objects [3]bool
	// keys[d] is the last member name read at depth d (1 or 2); lastStr
	// is the last string read, the name when a colon follows it.
	keys     [3][]byte
	lastStr  []byte
	strStart int
	// afterColon is true from a member's colon to the end of its value
	// when that value is a number or a literal; valueStart is where, in
	// the input being scanned, such a value started, and valuePrefix the
	// part of it scanned when the input ends inside it.
	afterColon  bool
	valueStart  int
	valuePrefix []byte
}

// scan advances over b, which continues the input scanned so far.
func (s *specScanner) scan(b []byte) {
	s.valuePrefix = nil
	s.valueStart = -1
	for i := 0; i < len(b); i++ {
		c := b[i]
		if s.inString {
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inString = false
				s.lastStr = b[s.strStart:i]
			}
			continue
		}
		switch c {
		case '"':
			s.inString, s.strStart, s.afterColon = true, i+1, false
		case ':':
			if s.depth <= 2 {
				s.keys[s.depth] = s.lastStr
			}
			s.lastStr, s.afterColon = nil, true
			s.valueStart = -1
		case '{', '[':
			s.depth++
			if s.depth <= 2 {
				s.objects[s.depth] = c == '{'
				s.keys[s.depth] = nil
			}
			s.afterColon = false
		case '}', ']':
			s.depth--
			s.afterColon = false
		case ',':
			s.afterColon = false
			s.valueStart = -1
		case ' ', '\t', '\n', '\r':
		default:
			if s.afterColon && s.valueStart < 0 {
				s.valueStart = i
			}
		}
	}
	if s.valueStart >= 0 {
		s.valuePrefix = b[s.valueStart:]
	}
}

// inPercentValue reports whether the scanned input ends inside, or just
// before, the value of spec.<component>.canaryTrafficPercent.
func (s *specScanner) inPercentValue() bool {
	if s.inString || s.depth != 2 || !s.objects[1] || !s.objects[2] || !s.afterColon {
		return false
	}
	if string(s.keys[2]) != percentMember || !percentComponents[string(s.keys[1])] {
		return false
	}
	for _, c := range s.valuePrefix {
		if !isScalarByte(c) {
			return false
		}
	}
	return true
}

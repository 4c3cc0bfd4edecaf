package store

import (
	"encoding/json"
	"fmt"
)

// EncodeList encodes a list for a JSON text column of either engine; nil
// becomes [].
func EncodeList[T any](v []T) (string, error) {
	if v == nil {
		v = []T{}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// DecodeList decodes a column written by EncodeList; [] becomes nil.
func DecodeList[T any](s string) ([]T, error) {
	var out []T
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode stored list: %w", err)
	}
	if len(out) == 0 {
		out = nil
	}
	return out, nil
}

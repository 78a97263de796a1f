package cri

import (
	"bytes"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crishim/crishim/internal/errdefs"
)

// checkRequestStrings rejects a request with a NUL byte in any of its strings (and bytes:
// environment values are bytes in the CRI), wherever it sits: scalar, repeated, map key or
// value, nested message. No name, path, label, argument or environment entry can carry a NUL
// to the kernel or to a plugin's environment, so such a request is refused before any handler
// runs, and nothing is half-created (a pod named with a NUL used to be created and then never
// removable: CNI refuses its environment). The error names the field path, never the value
// (it may be a credential).
func checkRequestStrings(req proto.Message) error {
	if req == nil {
		return nil
	}
	return walkStrings(req.ProtoReflect(), "")
}

func walkStrings(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = checkField(fd, v, prefix+string(fd.Name()))
		return err == nil
	})
	return err
}

func checkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch {
	case fd.IsMap():
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			key := k.String()
			p := fmt.Sprintf("%s[%q]", path, key)
			if strings.IndexByte(key, 0) >= 0 {
				err = nulError(p + " (key)")
			} else {
				err = checkValue(fd.MapValue(), mv, p)
			}
			return err == nil
		})
		return err
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if err := checkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return checkValue(fd, v, path)
}

// checkValue checks one value of the field's kind (a list element or a map value included).
func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return nulError(path)
		}
	case protoreflect.BytesKind:
		if bytes.IndexByte(v.Bytes(), 0) >= 0 {
			return nulError(path)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return walkStrings(v.Message(), path+".")
	}
	return nil
}

func nulError(path string) error {
	return fmt.Errorf("%s: contains a NUL byte: %w", path, errdefs.ErrInvalidArgument)
}

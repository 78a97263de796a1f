// Command nonewprivs is the program of the critest fixture image `nonewprivs`: installed
// setuid-root, it prints its effective uid, which shows whether no_new_privs was applied.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}

module github.com/crishim/crishim

go 1.26.0

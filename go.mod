module github.com/openspine/openspine

go 1.26.8

module example.com/mlab-token-backend

go 1.19

-- wrk script: GET the paths listed one a line in the file named by $BENCH_PATHS, in turn
-- (the -H headers, such as the token, go with every request).
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end
local index = 0

request = function()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end

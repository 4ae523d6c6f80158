// A C++ program using ringtrace tracepoints from several std::threads (and
// lambdas, std::string arguments). It writes what it logged, one line per
// event ("worker seq name delta"), to the side file given, for the test to
// compare with what babeltrace2 reads back.
// Usage: rec_cxx THREADS EVENTS_PER_THREAD SIDE_FILE
#include "cxx_tp.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char **argv)
{
	if (argc != 4) {
		std::fprintf(stderr, "usage: rec_cxx THREADS EVENTS SIDE_FILE\n");
		return 2;
	}
	const unsigned nthreads = static_cast<unsigned>(std::atoi(argv[1]));
	const uint64_t n = std::strtoull(argv[2], nullptr, 10);
	std::ofstream side(argv[3]);
	std::mutex side_lock;
	std::vector<std::thread> threads;

	for (unsigned w = 0; w < nthreads; w++)
		threads.emplace_back([&, w] {
			std::ostringstream lines;

			for (uint64_t i = 0; i < n; i++) {
				std::string name = "w" + std::to_string(w) + "-" + std::to_string(i * 7);
				int32_t delta = static_cast<int32_t>(i % 5) - 2;

				rtr_tracepoint(cxx, item, w, i, name.c_str(), delta);
				lines << w << ' ' << i << ' ' << name << ' ' << delta << '\n';
			}
			std::lock_guard<std::mutex> g(side_lock);
			side << lines.str();
		});
	for (auto &t : threads)
		t.join();
	rtr_tracepoint(cxx, done, static_cast<uint64_t>(nthreads) * n);
	side << "total " << static_cast<uint64_t>(nthreads) * n << '\n';
	return side.good() ? 0 : 1;
}

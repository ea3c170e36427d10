// OpenCV peer for the tessera benchmark (bench/run.py builds it into bench/out/).
//
// Each workload is one process invocation doing the same file-to-file job as
// the tessera pipeline it is compared with:
//
//   opencv_peer THREADS vips-bench IN.tif OUT.tif
//   opencv_peer THREADS canny      IN.jpg OUT.png
//   opencv_peer THREADS design     IN.jpg OUT.png   (grey, GaussianBlur 5x5, Canny 100/200)
//   opencv_peer THREADS blur       IN.jpg OUT.jpg
//   opencv_peer THREADS rotate     IN.jpg OUT.jpg
//   opencv_peer THREADS resize     IN.jpg OUT.jpg
//   opencv_peer THREADS thumbnail  IN.jpg OUT.jpg
//   opencv_peer THREADS medianK    IN.jpg OUT.jpg   (K odd, 3..255: cv::medianBlur)
//
// THREADS goes to cv::setNumThreads so every tool uses the same core count.
// With PEER_TIME_OP=N in the environment the operation (decoded input to
// output Mat, no I/O, the output Mat reused) runs 3 times to warm up, then
// N times timed, each printing "op_s=SECONDS cpu_s=SECONDS" on stdout
// (bench/median.py; the same line as bench/op_time for tessera).
// Exit status: 0 ok, 1 read/write failure, 2 bad usage.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace {

const int jpeg_quality = 85; // every JPEG output in the benchmark uses q85

// Reads IN with FLAGS; prints a message and returns an empty Mat on failure.
cv::Mat load(const char *path, int flags) {
    cv::Mat img = cv::imread(path, flags);
    if (img.empty())
        std::fprintf(stderr, "opencv_peer: cannot read %s\n", path);
    return img;
}

// True when PATH ends with SUFFIX.
bool ends_with(const std::string &path, const std::string &suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Writes IMG to PATH (JPEG outputs at jpeg_quality); false on failure.
bool save(const char *path, const cv::Mat &img) {
    std::vector<int> params;
    if (ends_with(path, ".jpg") || ends_with(path, ".jpeg"))
        params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
    else if (ends_with(path, ".tif") || ends_with(path, ".tiff"))
        params = {cv::IMWRITE_TIFF_COMPRESSION, 1}; // none: OpenCV's default is LZW
    if (!cv::imwrite(path, img, params)) {
        std::fprintf(stderr, "opencv_peer: cannot write %s\n", path);
        return false;
    }
    return true;
}

// vips-bench: crop 100 px from each edge, resize x0.9 bilinear, sharpen with
// the 3x3 kernel (-1 ... 16 ... -1) / 8.
cv::Mat vips_bench(const cv::Mat &in) {
    cv::Mat cropped = in(cv::Rect(100, 100, in.cols - 200, in.rows - 200));
    cv::Mat shrunk, out;
    cv::resize(cropped, shrunk, cv::Size(), 0.9, 0.9, cv::INTER_LINEAR);
    float k[9] = {-1, -1, -1, -1, 16, -1, -1, -1, -1};
    cv::Mat kernel(3, 3, CV_32F, k);
    kernel /= 8.0f;
    cv::filter2D(shrunk, out, -1, kernel);
    return out;
}

// Rotates 30 degrees counter-clockwise about the centre, same canvas,
// bilinear, black fill (tessera's rotate).
cv::Mat rotate30(const cv::Mat &in) {
    cv::Point2f centre((in.cols - 1) / 2.0f, (in.rows - 1) / 2.0f);
    cv::Mat m = cv::getRotationMatrix2D(centre, 30.0, 1.0);
    cv::Mat out;
    cv::warpAffine(in, out, m, in.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar());
    return out;
}

// Thumbnail 500 px wide: decode at 1/8 scale in libjpeg, then area resize.
cv::Mat thumbnail(const cv::Mat &reduced) {
    int width = 500;
    int height = (int)(reduced.rows * (double)width / reduced.cols + 0.5);
    cv::Mat out;
    cv::resize(reduced, out, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    return out;
}

// The workload's operation on the decoded input; false for an unknown job.
bool apply(const std::string &job, const cv::Mat &in, cv::Mat &out) {
    if (job == "vips-bench") {
        out = vips_bench(in);
    } else if (job == "canny") {
        cv::Canny(in, out, 100, 200);
    } else if (job == "design") { // the original design's pipeline
        cv::Mat grey, blurred;
        cv::cvtColor(in, grey, cv::COLOR_BGR2GRAY);
        cv::GaussianBlur(grey, blurred, cv::Size(5, 5), 0);
        cv::Canny(blurred, out, 100, 200);
    } else if (job == "blur") {
        cv::GaussianBlur(in, out, cv::Size(0, 0), 2.0);
    } else if (job == "rotate") {
        out = rotate30(in);
    } else if (job == "resize") {
        cv::resize(in, out, cv::Size(), 0.5, 0.5, cv::INTER_LINEAR);
    } else if (job == "thumbnail") {
        out = thumbnail(in);
    } else if (job.rfind("median", 0) == 0 && job.size() > 6) {
        cv::medianBlur(in, out, std::atoi(job.c_str() + 6));
    } else {
        return false;
    }
    return true;
}

// CPU seconds of the whole process (every thread).
double process_cpu_s() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: opencv_peer THREADS WORKLOAD IN OUT\n");
        return 2;
    }
    cv::setNumThreads(std::atoi(argv[1]));
    std::string job(argv[2]);
    const char *in_path = argv[3], *out_path = argv[4];

    int flags = job == "thumbnail" ? cv::IMREAD_REDUCED_COLOR_8 : cv::IMREAD_COLOR;
    cv::Mat in = load(in_path, flags);
    if (in.empty())
        return 1;

    cv::Mat out;
    const char *timed = std::getenv("PEER_TIME_OP");
    int runs = timed ? std::atoi(timed) : 0;
    for (int i = runs > 0 ? -3 : 0; i < (runs > 0 ? runs : 1); i++) { // 3 warm-ups when timed
        auto t0 = std::chrono::steady_clock::now();
        double c0 = process_cpu_s();
        if (!apply(job, in, out)) { // `out` is reused, as OpenCV's API intends
            std::fprintf(stderr, "opencv_peer: unknown workload %s\n", argv[2]);
            return 2;
        }
        if (runs > 0 && i >= 0)
            std::printf(
                "op_s=%.6f cpu_s=%.6f\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                process_cpu_s() - c0);
    }
    return save(out_path, out) ? 0 : 1;
}

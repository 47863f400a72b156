#include "core/base/secrets.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace webook {
namespace {

// The registry is process-wide: every test uses secrets of its own.

TEST(Secrets, RedactMasksEveryOccurrenceOfARegisteredSecret) {
    register_secret("Tr0ub4dor&3");
    EXPECT_EQ(redact("login with Tr0ub4dor&3 failed; retrying with Tr0ub4dor&3"),
              "login with *** failed; retrying with ***");
}

TEST(Secrets, RedactMasksAdjacentOccurrences) {
    register_secret("zq9zq9");
    EXPECT_EQ(redact("zq9zq9zq9zq9"), "******");
}

TEST(Secrets, RedactMasksEachOfSeveralSecrets) {
    register_secret("source-pw-111");
    register_secret("target-pw-222");
    EXPECT_EQ(redact("src=source-pw-111 dst=target-pw-222"), "src=*** dst=***");
}

TEST(Secrets, RedactLeavesTextWithoutSecretsUnchanged) {
    register_secret("not-in-the-text-77");
    EXPECT_EQ(redact("copied 1000 rows of interactives"), "copied 1000 rows of interactives");
    EXPECT_EQ(redact(""), "");
}

TEST(Secrets, RegisteringTheSameSecretTwiceStillMasksIt) {
    register_secret("twice-secret-5");
    register_secret("twice-secret-5");
    EXPECT_EQ(redact("a twice-secret-5 b"), "a *** b");
}

TEST(Secrets, SecretsShorterThanThreeCharactersAreNotSearched) {
    register_secret("q7");
    register_secret("");
    EXPECT_EQ(redact("q7 is a short word, q7q7"), "q7 is a short word, q7q7");
}

TEST(Secrets, ThreeCharacterSecretsAreSearched) {
    register_secret("k3y");
    EXPECT_EQ(redact("a k3y here"), "a *** here");
}

TEST(Secrets, ASecretContainingAShorterSecretIsMaskedWhole) {
    // Two passwords where one is a prefix of the other (a rotated password
    // with a suffix): no part of the longer one may remain visible.
    register_secret("rotatepw");
    register_secret("rotatepw2024");
    const std::string out = redact("password rotatepw2024 rejected");
    EXPECT_EQ(out.find("2024"), std::string::npos) << out;
    EXPECT_EQ(out, "password *** rejected");
}

TEST(Secrets, RegisterAndRedactAreSafeFromManyThreads) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t] {
            const std::string secret = "thread-secret-" + std::to_string(t);
            for (int i = 0; i < 200; ++i) {
                register_secret(secret);
                EXPECT_EQ(redact("x " + secret + " y"), "x *** y");
            }
        });
    }
    for (auto& th : threads) th.join();
}

}  // namespace
}  // namespace webook

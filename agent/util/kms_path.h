/* SPDX-License-Identifier: MIT */
#ifndef PVENC_UTIL_KMS_PATH_H
#define PVENC_UTIL_KMS_PATH_H
/* Default location of the KMS entries (a JSON object of KMS id -> entry). */
#define PVENC_KMS_CONFIG_PATH "/etc/pvenc/kms.json"
#endif

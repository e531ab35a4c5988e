-- CreateIndex
CREATE INDEX ix_courses_start_date ON courses (start_date, course_id);

-- CreateIndex
CREATE INDEX ix_rejections_missing_key ON rowgate_rejections (missing_key);

-- CreateIndex
CREATE INDEX ix_rejections_open ON rowgate_rejections (table_name, resolved_at);

-- CreateIndex
CREATE INDEX ix_rejections_source ON rowgate_rejections (source_digest, row_number);

-- CreateTable
CREATE TABLE categories (
	category_id BIGINT NOT NULL,
	category_name NVARCHAR(510) NOT NULL,
	CONSTRAINT pk_categories PRIMARY KEY (category_id)
);

-- CreateTable
CREATE TABLE courses (
	course_id BIGINT NOT NULL,
	course_name NVARCHAR(510) NOT NULL,
	category_id BIGINT NOT NULL,
	level_id BIGINT NOT NULL,
	start_date DATETIME2 NOT NULL,
	CONSTRAINT pk_courses PRIMARY KEY (course_id),
	CONSTRAINT fk_courses_category_id FOREIGN KEY(category_id) REFERENCES categories (category_id),
	CONSTRAINT fk_courses_level_id FOREIGN KEY(level_id) REFERENCES levels (level_id)
);

-- CreateTable
CREATE TABLE departments (
	id BIGINT NOT NULL,
	department NVARCHAR(510) NOT NULL,
	CONSTRAINT pk_departments PRIMARY KEY (id)
);

-- CreateTable
CREATE TABLE hired_employees (
	id BIGINT NOT NULL,
	name NVARCHAR(510) NOT NULL,
	datetime DATETIME2 NOT NULL,
	department_id BIGINT NOT NULL,
	job_id BIGINT NOT NULL,
	CONSTRAINT pk_hired_employees PRIMARY KEY (id),
	CONSTRAINT fk_hired_employees_department_id FOREIGN KEY(department_id) REFERENCES departments (id),
	CONSTRAINT fk_hired_employees_job_id FOREIGN KEY(job_id) REFERENCES jobs (id)
);

-- CreateTable
CREATE TABLE jobs (
	id BIGINT NOT NULL,
	job NVARCHAR(510) NOT NULL,
	CONSTRAINT pk_jobs PRIMARY KEY (id)
);

-- CreateTable
CREATE TABLE levels (
	level_id BIGINT NOT NULL,
	level_name NVARCHAR(510) NOT NULL,
	CONSTRAINT pk_levels PRIMARY KEY (level_id)
);

-- CreateTable
CREATE TABLE rowgate_hire_counts (
	year INTEGER NOT NULL,
	quarter INTEGER NOT NULL,
	department_id BIGINT NOT NULL,
	job_id BIGINT NOT NULL,
	hires BIGINT NOT NULL,
	CONSTRAINT pk_rowgate_hire_counts PRIMARY KEY (year, quarter, department_id, job_id)
);

-- CreateTable
CREATE TABLE rowgate_loads (
	id BIGINT NOT NULL IDENTITY,
	table_name NVARCHAR(256) NOT NULL,
	source NVARCHAR(2048) NOT NULL,
	content_hash VARCHAR(80) NOT NULL,
	status VARCHAR(16) NOT NULL,
	rows_read BIGINT NOT NULL,
	inserted BIGINT NOT NULL,
	unchanged BIGINT NOT NULL,
	rejected BIGINT NOT NULL,
	started_at DATETIME NOT NULL,
	finished_at DATETIME NULL,
	claimed_by NVARCHAR(510) NULL,
	claimed_until DATETIME NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_loads_content UNIQUE (table_name, content_hash)
);

-- CreateTable
CREATE TABLE rowgate_rejections (
	id BIGINT NOT NULL IDENTITY,
	table_name NVARCHAR(256) NOT NULL,
	source NVARCHAR(2048) NOT NULL,
	source_digest VARCHAR(64) NOT NULL,
	row_number BIGINT NULL,
	raw NVARCHAR(max) NOT NULL,
	reasons NVARCHAR(max) NOT NULL,
	retryable BIT NOT NULL,
	missing_key NVARCHAR(600) NULL,
	created_at DATETIME NOT NULL,
	resolved_at DATETIME NULL,
	resolution VARCHAR(16) NULL,
	fix NVARCHAR(max) NULL,
	PRIMARY KEY (id)
);

-- Delete
DELETE FROM rowgate_hire_counts;

-- Insert
INSERT INTO rowgate_loads (table_name, source, content_hash, status, rows_read, inserted, unchanged, rejected, started_at) OUTPUT inserted.id VALUES (:table_name, :source, :content_hash, :status, :rows_read, :inserted, :unchanged, :rejected, :started_at);

-- Insert
INSERT INTO rowgate_rejections (id, table_name, source, source_digest, row_number, raw, reasons, retryable, missing_key, created_at, resolved_at, resolution, fix) VALUES (:id, :table_name, :source, :source_digest, :row_number, :raw, :reasons, :retryable, :missing_key, :created_at, :resolved_at, :resolution, :fix);

-- Select
SELECT (SELECT min(departments.id) AS min_1
FROM departments) AS anon_1, (SELECT max(departments.id) AS max_1
FROM departments) AS anon_2;

-- Select
SELECT (SELECT min(hired_employees.id) AS min_1
FROM hired_employees) AS anon_1, (SELECT max(hired_employees.id) AS max_1
FROM hired_employees) AS anon_2;

-- Select
SELECT (SELECT min(jobs.id) AS min_1
FROM jobs) AS anon_1, (SELECT max(jobs.id) AS max_1
FROM jobs) AS anon_2;

-- Select
SELECT DISTINCT TOP 10000 rowgate_rejections.missing_key
FROM rowgate_rejections
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL AND rowgate_rejections.missing_key > :missing_key_1 ORDER BY rowgate_rejections.missing_key;

-- Select
SELECT TOP 10 hired_employees.id, hired_employees.name, hired_employees.datetime, hired_employees.department_id, hired_employees.job_id
FROM hired_employees
WHERE hired_employees.id > :after ORDER BY hired_employees.id;

-- Select
SELECT TOP 1000 rowgate_rejections.id, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.fix
FROM rowgate_rejections WITH (UPDLOCK, ROWLOCK)
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL AND rowgate_rejections.missing_key IN (:missing_key_1_1) AND rowgate_rejections.id > :id_1 ORDER BY rowgate_rejections.id;

-- Select
SELECT TOP 101 rowgate_rejections.id, rowgate_rejections.table_name, rowgate_rejections.source, rowgate_rejections.source_digest, rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.retryable, rowgate_rejections.missing_key, rowgate_rejections.created_at, rowgate_rejections.resolved_at, rowgate_rejections.resolution, rowgate_rejections.fix
FROM rowgate_rejections
WHERE rowgate_rejections.resolved_at IS NOT NULL ORDER BY rowgate_rejections.id DESC;

-- Select
SELECT TOP 11 rowgate_rejections.id, rowgate_rejections.table_name, rowgate_rejections.source, rowgate_rejections.source_digest, rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.retryable, rowgate_rejections.missing_key, rowgate_rejections.created_at, rowgate_rejections.resolved_at, rowgate_rejections.resolution, rowgate_rejections.fix
FROM rowgate_rejections
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.source_digest = :source_digest_1 AND rowgate_rejections.source = :source_1 AND rowgate_rejections.reasons LIKE :reasons_1 AND rowgate_rejections.id < :id_1 ORDER BY rowgate_rejections.id DESC;

-- Select
SELECT TOP 2 rowgate_rejections.id, rowgate_rejections.table_name, rowgate_rejections.source, rowgate_rejections.source_digest, rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.retryable, rowgate_rejections.missing_key, rowgate_rejections.created_at, rowgate_rejections.resolved_at, rowgate_rejections.resolution, rowgate_rejections.fix
FROM rowgate_rejections
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL ORDER BY rowgate_rejections.id DESC;

-- Select
SELECT TOP 5 anon_1.course_id, anon_1.course_name, anon_1.category, anon_1.level, anon_1.start_date
FROM (SELECT courses.course_id AS course_id, courses.course_name AS course_name, categories.category_name AS category, levels.level_name AS level, courses.start_date AS start_date
FROM courses JOIN categories ON courses.category_id = categories.category_id JOIN levels ON courses.level_id = levels.level_id) AS anon_1
WHERE anon_1.category = :category_1 AND anon_1.level = :level_1 ORDER BY anon_1.start_date DESC, anon_1.course_id DESC;

-- Select
SELECT TOP 50000 rowgate_rejections.id, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.fix
FROM rowgate_rejections WITH (UPDLOCK, ROWLOCK)
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL AND rowgate_rejections.id > :id_1 ORDER BY rowgate_rejections.id;

-- Select
SELECT TOP 50000 rowgate_rejections.id, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.fix
FROM rowgate_rejections WITH (UPDLOCK, ROWLOCK)
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL AND rowgate_rejections.missing_key IN (:missing_key_1_1, :missing_key_1_2, :missing_key_1_3, :missing_key_1_4, :missing_key_1_5, :missing_key_1_6, :missing_key_1_7, :missing_key_1_8, :missing_key_1_9, :missing_key_1_10, :missing_key_1_11, :missing_key_1_12, :missing_key_1_13, :missing_key_1_14, :missing_key_1_15, :missing_key_1_16, :missing_key_1_17, :missing_key_1_18, :missing_key_1_19, :missing_key_1_20, :missing_key_1_21, :missing_key_1_22, :missing_key_1_23, :missing_key_1_24, :missing_key_1_25, :missing_key_1_26, :missing_key_1_27, :missing_key_1_28, :missing_key_1_29, :missing_key_1_30, :missing_key_1_31, :missing_key_1_32, :missing_key_1_33, :missing_key_1_34, :missing_key_1_35, :missing_key_1_36, :missing_key_1_37, :missing_key_1_38, :missing_key_1_39, :missing_key_1_40, :missing_key_1_41, :missing_key_1_42, :missing_key_1_43, :missing_key_1_44, :missing_key_1_45, :missing_key_1_46, :missing_key_1_47, :missing_key_1_48, :missing_key_1_49, :missing_key_1_50, :missing_key_1_51, :missing_key_1_52, :missing_key_1_53, :missing_key_1_54, :missing_key_1_55, :missing_key_1_56, :missing_key_1_57, :missing_key_1_58, :missing_key_1_59, :missing_key_1_60, :missing_key_1_61, :missing_key_1_62, :missing_key_1_63, :missing_key_1_64, :missing_key_1_65, :missing_key_1_66, :missing_key_1_67, :missing_key_1_68, :missing_key_1_69, :missing_key_1_70, :missing_key_1_71, :missing_key_1_72, :missing_key_1_73, :missing_key_1_74, :missing_key_1_75, :missing_key_1_76, :missing_key_1_77, :missing_key_1_78, :missing_key_1_79, :missing_key_1_80, :missing_key_1_81, :missing_key_1_82, :missing_key_1_83, :missing_key_1_84, :missing_key_1_85, :missing_key_1_86, :missing_key_1_87, :missing_key_1_88, :missing_key_1_89, :missing_key_1_90, :missing_key_1_91, :missing_key_1_92, :missing_key_1_93, :missing_key_1_94, :missing_key_1_95, :missing_key_1_96, :missing_key_1_97, :missing_key_1_98, :missing_key_1_99, :missing_key_1_100, :missing_key_1_101, :missing_key_1_102, :missing_key_1_103, :missing_key_1_104, :missing_key_1_105, :missing_key_1_106, :missing_key_1_107, :missing_key_1_108, :missing_key_1_109, :missing_key_1_110, :missing_key_1_111, :missing_key_1_112, :missing_key_1_113, :missing_key_1_114, :missing_key_1_115, :missing_key_1_116, :missing_key_1_117, :missing_key_1_118, :missing_key_1_119, :missing_key_1_120, :missing_key_1_121, :missing_key_1_122, :missing_key_1_123, :missing_key_1_124, :missing_key_1_125, :missing_key_1_126, :missing_key_1_127, :missing_key_1_128, :missing_key_1_129, :missing_key_1_130, :missing_key_1_131, :missing_key_1_132, :missing_key_1_133, :missing_key_1_134, :missing_key_1_135, :missing_key_1_136, :missing_key_1_137, :missing_key_1_138, :missing_key_1_139, :missing_key_1_140, :missing_key_1_141, :missing_key_1_142, :missing_key_1_143, :missing_key_1_144, :missing_key_1_145, :missing_key_1_146, :missing_key_1_147, :missing_key_1_148, :missing_key_1_149, :missing_key_1_150, :missing_key_1_151, :missing_key_1_152, :missing_key_1_153, :missing_key_1_154, :missing_key_1_155, :missing_key_1_156, :missing_key_1_157, :missing_key_1_158, :missing_key_1_159, :missing_key_1_160, :missing_key_1_161, :missing_key_1_162, :missing_key_1_163, :missing_key_1_164, :missing_key_1_165, :missing_key_1_166, :missing_key_1_167, :missing_key_1_168, :missing_key_1_169, :missing_key_1_170, :missing_key_1_171, :missing_key_1_172) AND rowgate_rejections.id > :id_1 ORDER BY rowgate_rejections.id;

-- Select
SELECT count(*) AS count_1
FROM departments;

-- Select
SELECT count(*) AS count_1
FROM hired_employees;

-- Select
SELECT count(*) AS count_1
FROM jobs;

-- Select
SELECT departments.department, jobs.job, hires.q1, hires.q2, hires.q3, hires.q4
FROM (SELECT counts.department_id AS department_id, counts.job_id AS job_id, CAST(sum(CASE WHEN (counts.quarter = :quarter_1) THEN counts.hires ELSE :param_1 END) AS BIGINT) AS q1, CAST(sum(CASE WHEN (counts.quarter = :quarter_2) THEN counts.hires ELSE :param_2 END) AS BIGINT) AS q2, CAST(sum(CASE WHEN (counts.quarter = :quarter_3) THEN counts.hires ELSE :param_3 END) AS BIGINT) AS q3, CAST(sum(CASE WHEN (counts.quarter = :quarter_4) THEN counts.hires ELSE :param_4 END) AS BIGINT) AS q4
FROM (SELECT rowgate_hire_counts.year AS year, rowgate_hire_counts.quarter AS quarter, rowgate_hire_counts.department_id AS department_id, rowgate_hire_counts.job_id AS job_id, rowgate_hire_counts.hires AS hires
FROM rowgate_hire_counts
WHERE rowgate_hire_counts.year = :year_1) AS counts GROUP BY counts.department_id, counts.job_id) AS hires JOIN departments ON hires.department_id = departments.id JOIN jobs ON hires.job_id = jobs.id ORDER BY lower(departments.department), lower(jobs.job), departments.department, jobs.job;

-- Select
SELECT departments.id
FROM departments
WHERE departments.id BETWEEN :id_1 AND :id_2;

-- Select
SELECT departments.id, departments.department, hires.hired
FROM (SELECT counts.department_id AS department_id, CAST(sum(counts.hires) AS BIGINT) AS hired
FROM (SELECT rowgate_hire_counts.year AS year, rowgate_hire_counts.quarter AS quarter, rowgate_hire_counts.department_id AS department_id, rowgate_hire_counts.job_id AS job_id, rowgate_hire_counts.hires AS hires
FROM rowgate_hire_counts
WHERE rowgate_hire_counts.year = :year_1) AS counts GROUP BY counts.department_id) AS hires JOIN departments ON departments.id = hires.department_id
WHERE hires.hired * (SELECT count(*) AS count_1
FROM departments) > (SELECT CAST(sum(counts.hires) AS BIGINT) AS sum_1
FROM (SELECT rowgate_hire_counts.year AS year, rowgate_hire_counts.quarter AS quarter, rowgate_hire_counts.department_id AS department_id, rowgate_hire_counts.job_id AS job_id, rowgate_hire_counts.hires AS hires
FROM rowgate_hire_counts
WHERE rowgate_hire_counts.year = :year_1) AS counts) ORDER BY hires.hired DESC, departments.id;

-- Select
SELECT jobs.id
FROM jobs
WHERE jobs.id BETWEEN :id_1 AND :id_2;

-- Select
SELECT jobs.id
FROM jobs
WHERE jobs.id IN (:id_1_1, :id_1_2, :id_1_3, :id_1_4, :id_1_5, :id_1_6, :id_1_7, :id_1_8, :id_1_9, :id_1_10, :id_1_11, :id_1_12, :id_1_13, :id_1_14, :id_1_15, :id_1_16, :id_1_17, :id_1_18, :id_1_19, :id_1_20, :id_1_21, :id_1_22, :id_1_23, :id_1_24, :id_1_25, :id_1_26, :id_1_27, :id_1_28, :id_1_29, :id_1_30, :id_1_31, :id_1_32, :id_1_33, :id_1_34, :id_1_35, :id_1_36, :id_1_37, :id_1_38, :id_1_39, :id_1_40, :id_1_41, :id_1_42, :id_1_43, :id_1_44, :id_1_45, :id_1_46, :id_1_47, :id_1_48, :id_1_49, :id_1_50, :id_1_51, :id_1_52, :id_1_53, :id_1_54, :id_1_55, :id_1_56, :id_1_57, :id_1_58, :id_1_59, :id_1_60, :id_1_61, :id_1_62, :id_1_63, :id_1_64, :id_1_65, :id_1_66, :id_1_67, :id_1_68, :id_1_69, :id_1_70, :id_1_71, :id_1_72, :id_1_73, :id_1_74, :id_1_75, :id_1_76, :id_1_77, :id_1_78, :id_1_79, :id_1_80, :id_1_81, :id_1_82, :id_1_83, :id_1_84, :id_1_85, :id_1_86, :id_1_87, :id_1_88, :id_1_89, :id_1_90, :id_1_91, :id_1_92, :id_1_93, :id_1_94, :id_1_95, :id_1_96, :id_1_97, :id_1_98, :id_1_99, :id_1_100, :id_1_101, :id_1_102, :id_1_103, :id_1_104, :id_1_105, :id_1_106, :id_1_107, :id_1_108, :id_1_109, :id_1_110, :id_1_111, :id_1_112, :id_1_113, :id_1_114, :id_1_115, :id_1_116, :id_1_117, :id_1_118, :id_1_119, :id_1_120, :id_1_121, :id_1_122, :id_1_123, :id_1_124, :id_1_125, :id_1_126, :id_1_127, :id_1_128, :id_1_129, :id_1_130, :id_1_131, :id_1_132, :id_1_133, :id_1_134, :id_1_135, :id_1_136, :id_1_137, :id_1_138, :id_1_139, :id_1_140, :id_1_141, :id_1_142, :id_1_143, :id_1_144, :id_1_145, :id_1_146, :id_1_147, :id_1_148, :id_1_149, :id_1_150, :id_1_151, :id_1_152, :id_1_153, :id_1_154, :id_1_155, :id_1_156, :id_1_157, :id_1_158, :id_1_159, :id_1_160, :id_1_161, :id_1_162, :id_1_163, :id_1_164, :id_1_165, :id_1_166, :id_1_167, :id_1_168, :id_1_169, :id_1_170, :id_1_171, :id_1_172);

-- Select
SELECT rowgate_loads.id
FROM rowgate_loads
WHERE rowgate_loads.status = :status_1 ORDER BY rowgate_loads.id;

-- Select
SELECT rowgate_loads.id, rowgate_loads.source, rowgate_loads.started_at, rowgate_loads.finished_at
FROM rowgate_loads
WHERE rowgate_loads.table_name = :table_name_1;

-- Select
SELECT rowgate_loads.id, rowgate_loads.table_name, rowgate_loads.source, rowgate_loads.content_hash, rowgate_loads.status, rowgate_loads.rows_read, rowgate_loads.inserted, rowgate_loads.unchanged, rowgate_loads.rejected, rowgate_loads.started_at, rowgate_loads.finished_at, rowgate_loads.claimed_by, rowgate_loads.claimed_until
FROM rowgate_loads
WHERE rowgate_loads.id = :id_1;

-- Select
SELECT rowgate_loads.id, rowgate_loads.table_name, rowgate_loads.source, rowgate_loads.content_hash, rowgate_loads.status, rowgate_loads.rows_read, rowgate_loads.inserted, rowgate_loads.unchanged, rowgate_loads.rejected, rowgate_loads.started_at, rowgate_loads.finished_at, rowgate_loads.claimed_by, rowgate_loads.claimed_until
FROM rowgate_loads
WHERE rowgate_loads.table_name = :table_name_1 AND rowgate_loads.content_hash = :content_hash_1;

-- Select
SELECT rowgate_loads.rows_read
FROM rowgate_loads
WHERE rowgate_loads.id = :id_1;

-- Select
SELECT rowgate_loads.table_name, rowgate_loads.source, rowgate_loads.claimed_by
FROM rowgate_loads
WHERE rowgate_loads.table_name IN (:table_name_1_1, :table_name_1_2, :table_name_1_3) AND rowgate_loads.status != :status_1 AND rowgate_loads.claimed_until > :claimed_until_1;

-- Select
SELECT rowgate_rejections.id, rowgate_rejections.table_name, rowgate_rejections.source, rowgate_rejections.source_digest, rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.retryable, rowgate_rejections.missing_key, rowgate_rejections.created_at, rowgate_rejections.resolved_at, rowgate_rejections.resolution, rowgate_rejections.fix
FROM rowgate_rejections
WHERE rowgate_rejections.id = :id_1;

-- Select
SELECT rowgate_rejections.id, rowgate_rejections.table_name, rowgate_rejections.source, rowgate_rejections.source_digest, rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.retryable, rowgate_rejections.missing_key, rowgate_rejections.created_at, rowgate_rejections.resolved_at, rowgate_rejections.resolution, rowgate_rejections.fix
FROM rowgate_rejections WITH (UPDLOCK, ROWLOCK)
WHERE rowgate_rejections.id = :id_1;

-- Select
SELECT rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons
FROM rowgate_rejections
WHERE rowgate_rejections.source_digest = :source_digest_1 AND rowgate_rejections.source = :source_1 AND rowgate_rejections.created_at >= :created_at_1 AND rowgate_rejections.created_at <= :created_at_2 ORDER BY rowgate_rejections.row_number, rowgate_rejections.id;

-- Select
SELECT rowgate_rejections.row_number, rowgate_rejections.raw, rowgate_rejections.reasons, rowgate_rejections.fix
FROM rowgate_rejections
WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at IS NULL ORDER BY rowgate_rejections.id;

-- Update
UPDATE rowgate_loads SET claimed_by=:claimed_by, claimed_until=:claimed_until WHERE rowgate_loads.id = :id_1 AND rowgate_loads.status = :status_1 AND (rowgate_loads.claimed_until IS NULL OR rowgate_loads.claimed_until < :claimed_until_1);

-- Update
UPDATE rowgate_loads SET claimed_until=:claimed_until WHERE rowgate_loads.id = :id_1 AND rowgate_loads.claimed_by = :claimed_by_1 AND rowgate_loads.status = :status_1 AND rowgate_loads.rows_read = :rows_read_1;

-- Update
UPDATE rowgate_loads SET rows_read=:rows_read, inserted=(rowgate_loads.inserted + :inserted_1), unchanged=(rowgate_loads.unchanged + :unchanged_1), rejected=(rowgate_loads.rejected + :rejected_1) WHERE rowgate_loads.id = :id_1;

-- Update
UPDATE rowgate_loads SET rows_read=:rows_read, inserted=(rowgate_loads.inserted + :inserted_1), unchanged=(rowgate_loads.unchanged + :unchanged_1), rejected=(rowgate_loads.rejected + :rejected_1) WHERE rowgate_loads.id = :id_1 AND rowgate_loads.claimed_by = :claimed_by_1;

-- Update
UPDATE rowgate_loads SET status=:status, finished_at=:finished_at, claimed_by=:claimed_by, claimed_until=:claimed_until WHERE rowgate_loads.id = :id_1;

-- Update
UPDATE rowgate_loads SET status=:status, finished_at=:finished_at, claimed_by=:claimed_by, claimed_until=:claimed_until WHERE rowgate_loads.id = :id_1 AND rowgate_loads.claimed_by = :claimed_by_1;

-- Update
UPDATE rowgate_rejections SET missing_key=:missing_key, resolved_at=:resolved_at, resolution=:resolution WHERE rowgate_rejections.id = :row_id;

-- Update
UPDATE rowgate_rejections SET missing_key=:missing_key, resolved_at=:resolved_at, resolution=:resolution, fix=:fix WHERE rowgate_rejections.id = :id_1;

-- Update
UPDATE rowgate_rejections SET reasons=:reasons, retryable=:retryable, missing_key=:missing_key WHERE rowgate_rejections.id = :row_id;

-- Update
UPDATE rowgate_rejections SET resolved_at=:resolved_at, resolution=:resolution WHERE rowgate_rejections.table_name = :table_name_1 AND rowgate_rejections.resolved_at >= :resolved_at_1;

-- backup read
SELECT categories.category_id, categories.category_name
FROM categories ORDER BY categories.category_id;

-- backup read
SELECT courses.course_id, courses.course_name, courses.category_id, courses.level_id, courses.start_date AS start_date
FROM courses ORDER BY courses.course_id;

-- backup read
SELECT departments.id, departments.department
FROM departments ORDER BY departments.id;

-- backup read
SELECT hired_employees.id, hired_employees.name, hired_employees.datetime AS datetime, hired_employees.department_id, hired_employees.job_id
FROM hired_employees ORDER BY hired_employees.id;

-- backup read
SELECT jobs.id, jobs.job
FROM jobs ORDER BY jobs.id;

-- backup read
SELECT levels.level_id, levels.level_name
FROM levels ORDER BY levels.level_id;

-- bulk insert (pyodbc fast_executemany)
INSERT INTO categories (category_id, category_name) VALUES (:category_id, :category_name);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO courses (course_id, course_name, category_id, level_id, start_date) VALUES (:course_id, :course_name, :category_id, :level_id, :start_date);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO departments (id, department) VALUES (:id, :department);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO hired_employees (id, name, datetime, department_id, job_id) VALUES (:id, :name, :datetime, :department_id, :job_id);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO jobs (id, job) VALUES (:id, :job);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO levels (level_id, level_name) VALUES (:level_id, :level_name);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO rowgate_hire_counts (year, quarter, department_id, job_id, hires) VALUES (:year, :quarter, :department_id, :job_id, :hires);

-- bulk insert (pyodbc fast_executemany)
INSERT INTO rowgate_loads (id, table_name, source, content_hash, status, rows_read, inserted, unchanged, rejected, started_at, finished_at, claimed_by, claimed_until) VALUES (:id, :table_name, :source, :content_hash, :status, :rows_read, :inserted, :unchanged, :rejected, :started_at, :finished_at, :claimed_by, :claimed_until);

-- hire counts (executemany on the driver's cursor)
MERGE rowgate_hire_counts WITH (HOLDLOCK) AS counts USING (VALUES (:year, :quarter, :department_id, :job_id, :hires)) AS delta (year, quarter, department_id, job_id, hires) ON counts.year = delta.year AND counts.quarter = delta.quarter AND counts.department_id = delta.department_id AND counts.job_id = delta.job_id WHEN MATCHED THEN UPDATE SET hires = counts.hires + delta.hires WHEN NOT MATCHED THEN INSERT (year, quarter, department_id, job_id, hires) VALUES (delta.year, delta.quarter, delta.department_id, delta.job_id, delta.hires);;

-- restore
DELETE FROM categories WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_categories_run]
WHERE categories.category_id = [#rowgate_stage_categories_run].category_id));

-- restore
DELETE FROM courses WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_courses_run]
WHERE courses.course_id = [#rowgate_stage_courses_run].course_id));

-- restore
DELETE FROM departments WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_departments_run]
WHERE departments.id = [#rowgate_stage_departments_run].id));

-- restore
DELETE FROM hired_employees WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_hired_employees_run]
WHERE hired_employees.id = [#rowgate_stage_hired_employees_run].id));

-- restore
DELETE FROM jobs WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_jobs_run]
WHERE jobs.id = [#rowgate_stage_jobs_run].id));

-- restore
DELETE FROM levels WHERE NOT (EXISTS (SELECT *
FROM [#rowgate_stage_levels_run]
WHERE levels.level_id = [#rowgate_stage_levels_run].level_id));

-- restore
INSERT INTO categories (category_id, category_name) SELECT [#rowgate_stage_categories_run].category_id, [#rowgate_stage_categories_run].category_name
FROM [#rowgate_stage_categories_run]
WHERE NOT (EXISTS (SELECT *
FROM categories
WHERE categories.category_id = [#rowgate_stage_categories_run].category_id));

-- restore
INSERT INTO courses (course_id, course_name, category_id, level_id, start_date) SELECT [#rowgate_stage_courses_run].course_id, [#rowgate_stage_courses_run].course_name, [#rowgate_stage_courses_run].category_id, [#rowgate_stage_courses_run].level_id, [#rowgate_stage_courses_run].start_date
FROM [#rowgate_stage_courses_run]
WHERE NOT (EXISTS (SELECT *
FROM courses
WHERE courses.course_id = [#rowgate_stage_courses_run].course_id));

-- restore
INSERT INTO departments (id, department) SELECT [#rowgate_stage_departments_run].id, [#rowgate_stage_departments_run].department
FROM [#rowgate_stage_departments_run]
WHERE NOT (EXISTS (SELECT *
FROM departments
WHERE departments.id = [#rowgate_stage_departments_run].id));

-- restore
INSERT INTO hired_employees (id, name, datetime, department_id, job_id) SELECT [#rowgate_stage_hired_employees_run].id, [#rowgate_stage_hired_employees_run].name, [#rowgate_stage_hired_employees_run].datetime, [#rowgate_stage_hired_employees_run].department_id, [#rowgate_stage_hired_employees_run].job_id
FROM [#rowgate_stage_hired_employees_run]
WHERE NOT (EXISTS (SELECT *
FROM hired_employees
WHERE hired_employees.id = [#rowgate_stage_hired_employees_run].id));

-- restore
INSERT INTO jobs (id, job) SELECT [#rowgate_stage_jobs_run].id, [#rowgate_stage_jobs_run].job
FROM [#rowgate_stage_jobs_run]
WHERE NOT (EXISTS (SELECT *
FROM jobs
WHERE jobs.id = [#rowgate_stage_jobs_run].id));

-- restore
INSERT INTO levels (level_id, level_name) SELECT [#rowgate_stage_levels_run].level_id, [#rowgate_stage_levels_run].level_name
FROM [#rowgate_stage_levels_run]
WHERE NOT (EXISTS (SELECT *
FROM levels
WHERE levels.level_id = [#rowgate_stage_levels_run].level_id));

-- restore
SELECT DISTINCT TOP 5 [#rowgate_stage_courses_run].category_id
FROM [#rowgate_stage_courses_run]
WHERE [#rowgate_stage_courses_run].category_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_categories_run]
WHERE [#rowgate_stage_categories_run].category_id = [#rowgate_stage_courses_run].category_id));

-- restore
SELECT DISTINCT TOP 5 [#rowgate_stage_courses_run].level_id
FROM [#rowgate_stage_courses_run]
WHERE [#rowgate_stage_courses_run].level_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_levels_run]
WHERE [#rowgate_stage_levels_run].level_id = [#rowgate_stage_courses_run].level_id));

-- restore
SELECT DISTINCT TOP 5 [#rowgate_stage_hired_employees_run].department_id
FROM [#rowgate_stage_hired_employees_run]
WHERE [#rowgate_stage_hired_employees_run].department_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_departments_run]
WHERE [#rowgate_stage_departments_run].id = [#rowgate_stage_hired_employees_run].department_id));

-- restore
SELECT DISTINCT TOP 5 [#rowgate_stage_hired_employees_run].job_id
FROM [#rowgate_stage_hired_employees_run]
WHERE [#rowgate_stage_hired_employees_run].job_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_jobs_run]
WHERE [#rowgate_stage_jobs_run].id = [#rowgate_stage_hired_employees_run].job_id));

-- restore
SELECT DISTINCT TOP 5 courses.category_id
FROM courses
WHERE courses.category_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_categories_run]
WHERE [#rowgate_stage_categories_run].category_id = courses.category_id));

-- restore
SELECT DISTINCT TOP 5 courses.level_id
FROM courses
WHERE courses.level_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_levels_run]
WHERE [#rowgate_stage_levels_run].level_id = courses.level_id));

-- restore
SELECT DISTINCT TOP 5 hired_employees.department_id
FROM hired_employees
WHERE hired_employees.department_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_departments_run]
WHERE [#rowgate_stage_departments_run].id = hired_employees.department_id));

-- restore
SELECT DISTINCT TOP 5 hired_employees.job_id
FROM hired_employees
WHERE hired_employees.job_id IS NOT NULL AND NOT (EXISTS (SELECT *
FROM [#rowgate_stage_jobs_run]
WHERE [#rowgate_stage_jobs_run].id = hired_employees.job_id));

-- restore
UPDATE categories SET category_name=[#rowgate_stage_categories_run].category_name FROM categories, [#rowgate_stage_categories_run] WHERE categories.category_id = [#rowgate_stage_categories_run].category_id AND NOT EXISTS (SELECT categories.category_name INTERSECT SELECT [#rowgate_stage_categories_run].category_name);

-- restore
UPDATE courses SET course_name=[#rowgate_stage_courses_run].course_name, category_id=[#rowgate_stage_courses_run].category_id, level_id=[#rowgate_stage_courses_run].level_id, start_date=[#rowgate_stage_courses_run].start_date FROM courses, [#rowgate_stage_courses_run] WHERE courses.course_id = [#rowgate_stage_courses_run].course_id AND (NOT EXISTS (SELECT courses.course_name INTERSECT SELECT [#rowgate_stage_courses_run].course_name) OR NOT EXISTS (SELECT courses.category_id INTERSECT SELECT [#rowgate_stage_courses_run].category_id) OR NOT EXISTS (SELECT courses.level_id INTERSECT SELECT [#rowgate_stage_courses_run].level_id) OR NOT EXISTS (SELECT courses.start_date INTERSECT SELECT [#rowgate_stage_courses_run].start_date));

-- restore
UPDATE departments SET department=[#rowgate_stage_departments_run].department FROM departments, [#rowgate_stage_departments_run] WHERE departments.id = [#rowgate_stage_departments_run].id AND NOT EXISTS (SELECT departments.department INTERSECT SELECT [#rowgate_stage_departments_run].department);

-- restore
UPDATE hired_employees SET name=[#rowgate_stage_hired_employees_run].name, datetime=[#rowgate_stage_hired_employees_run].datetime, department_id=[#rowgate_stage_hired_employees_run].department_id, job_id=[#rowgate_stage_hired_employees_run].job_id FROM hired_employees, [#rowgate_stage_hired_employees_run] WHERE hired_employees.id = [#rowgate_stage_hired_employees_run].id AND (NOT EXISTS (SELECT hired_employees.name INTERSECT SELECT [#rowgate_stage_hired_employees_run].name) OR NOT EXISTS (SELECT hired_employees.datetime INTERSECT SELECT [#rowgate_stage_hired_employees_run].datetime) OR NOT EXISTS (SELECT hired_employees.department_id INTERSECT SELECT [#rowgate_stage_hired_employees_run].department_id) OR NOT EXISTS (SELECT hired_employees.job_id INTERSECT SELECT [#rowgate_stage_hired_employees_run].job_id));

-- restore
UPDATE jobs SET job=[#rowgate_stage_jobs_run].job FROM jobs, [#rowgate_stage_jobs_run] WHERE jobs.id = [#rowgate_stage_jobs_run].id AND NOT EXISTS (SELECT jobs.job INTERSECT SELECT [#rowgate_stage_jobs_run].job);

-- restore
UPDATE levels SET level_name=[#rowgate_stage_levels_run].level_name FROM levels, [#rowgate_stage_levels_run] WHERE levels.level_id = [#rowgate_stage_levels_run].level_id AND NOT EXISTS (SELECT levels.level_name INTERSECT SELECT [#rowgate_stage_levels_run].level_name);

-- restore lock
SELECT TOP 0 1 FROM categories WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM categories WITH (TABLOCKX, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM courses WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM courses WITH (TABLOCKX, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM departments WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM departments WITH (TABLOCKX, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM hired_employees WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM hired_employees WITH (TABLOCKX, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM jobs WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM jobs WITH (TABLOCKX, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM levels WITH (TABLOCK, HOLDLOCK);

-- restore lock
SELECT TOP 0 1 FROM levels WITH (TABLOCKX, HOLDLOCK);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_categories_run] (category_id, category_name) VALUES (:category_id, :category_name);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_courses_run] (course_id, course_name, category_id, level_id, start_date) VALUES (:course_id, :course_name, :category_id, :level_id, :start_date);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_departments_run] (id, department) VALUES (:id, :department);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_hired_employees_run] (id, name, datetime, department_id, job_id) VALUES (:id, :name, :datetime, :department_id, :job_id);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_jobs_run] (id, job) VALUES (:id, :job);

-- restore staging (pyodbc fast_executemany)
INSERT INTO [#rowgate_stage_levels_run] (level_id, level_name) VALUES (:level_id, :level_name);

-- restore staging table
CREATE TABLE [#rowgate_stage_categories_run] (
	category_id BIGINT NOT NULL IDENTITY,
	category_name NVARCHAR(510) NULL,
	PRIMARY KEY (category_id)
);

-- restore staging table
CREATE TABLE [#rowgate_stage_courses_run] (
	course_id BIGINT NOT NULL IDENTITY,
	course_name NVARCHAR(510) NULL,
	category_id BIGINT NULL,
	level_id BIGINT NULL,
	start_date DATETIME2 NULL,
	PRIMARY KEY (course_id)
);

-- restore staging table
CREATE TABLE [#rowgate_stage_departments_run] (
	id BIGINT NOT NULL IDENTITY,
	department NVARCHAR(510) NULL,
	PRIMARY KEY (id)
);

-- restore staging table
CREATE TABLE [#rowgate_stage_hired_employees_run] (
	id BIGINT NOT NULL IDENTITY,
	name NVARCHAR(510) NULL,
	datetime DATETIME2 NULL,
	department_id BIGINT NULL,
	job_id BIGINT NULL,
	PRIMARY KEY (id)
);

-- restore staging table
CREATE TABLE [#rowgate_stage_jobs_run] (
	id BIGINT NOT NULL IDENTITY,
	job NVARCHAR(510) NULL,
	PRIMARY KEY (id)
);

-- restore staging table
CREATE TABLE [#rowgate_stage_levels_run] (
	level_id BIGINT NOT NULL IDENTITY,
	level_name NVARCHAR(510) NULL,
	PRIMARY KEY (level_id)
);

-- view
CREATE OR ALTER VIEW report_departments_above_mean AS WITH hires AS
(SELECT CAST(DATEPART(year, hired_employees.datetime) AS INTEGER) AS year, hired_employees.department_id AS department_id, count(*) AS hired
FROM hired_employees GROUP BY CAST(DATEPART(year, hired_employees.datetime) AS INTEGER), hired_employees.department_id)
 SELECT anon_1.year, departments.id, departments.department, hires.hired
FROM (SELECT hires.year AS year, sum(hires.hired) AS total
FROM hires GROUP BY hires.year) AS anon_1 JOIN hires ON hires.year = anon_1.year JOIN departments ON departments.id = hires.department_id
WHERE hires.hired * (SELECT count(*) AS count_1
FROM departments) > anon_1.total;

-- view
CREATE OR ALTER VIEW report_hires_by_quarter AS SELECT hires.year, departments.department, jobs.job, hires.q1, hires.q2, hires.q3, hires.q4
FROM (SELECT CAST(DATEPART(year, hired_employees.datetime) AS INTEGER) AS year, hired_employees.department_id AS department_id, hired_employees.job_id AS job_id, sum(CASE WHEN ((CAST(DATEPART(month, hired_employees.datetime) AS INTEGER) + 2) / 3 = 1) THEN 1 ELSE 0 END) AS q1, sum(CASE WHEN ((CAST(DATEPART(month, hired_employees.datetime) AS INTEGER) + 2) / 3 = 2) THEN 1 ELSE 0 END) AS q2, sum(CASE WHEN ((CAST(DATEPART(month, hired_employees.datetime) AS INTEGER) + 2) / 3 = 3) THEN 1 ELSE 0 END) AS q3, sum(CASE WHEN ((CAST(DATEPART(month, hired_employees.datetime) AS INTEGER) + 2) / 3 = 4) THEN 1 ELSE 0 END) AS q4
FROM hired_employees GROUP BY CAST(DATEPART(year, hired_employees.datetime) AS INTEGER), hired_employees.department_id, hired_employees.job_id) AS hires JOIN departments ON hires.department_id = departments.id JOIN jobs ON hires.job_id = jobs.id;

-- view
CREATE OR ALTER VIEW report_recent_courses AS SELECT courses.course_id, courses.course_name, categories.category_name AS category, levels.level_name AS level, courses.start_date
FROM courses JOIN categories ON courses.category_id = categories.category_id JOIN levels ON courses.level_id = levels.level_id;


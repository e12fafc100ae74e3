-- Clients $3..$4 of workspace $1 with seed $2, owned by the users in $5: about 70% people
-- (Russian and English names) and 30% companies, unique E.164 phones and emails, tags, created
-- over the last three years.
WITH base AS (
    SELECT n, $2::bigint * 1000 AS salt,
           (abs(hashint8extended(n, $2 * 1000 + 1)) % 10) < 3 AS is_company,
           (abs(hashint8extended(n, $2 * 1000 + 2)) % 10) < 6 AS russian,
           (abs(hashint8extended(n, $2 * 1000 + 3)) % 2) = 0 AS female,
           now() - make_interval(days => (abs(hashint8extended(n, $2 * 1000 + 4)) % 1095)::int,
                                 secs => (abs(hashint8extended(n, $2 * 1000 + 5)) % 86400)::int) AS created_at
    FROM generate_series($3::bigint, $4::bigint) AS n
), named AS (
    SELECT b.*,
           CASE WHEN b.russian THEN (abs(hashint8extended(n, salt + 6)) % 20) ELSE (abs(hashint8extended(n, salt + 6)) % 12) END AS last_i,
           (abs(hashint8extended(n, salt + 7)) % 10) AS first_i,
           (abs(hashint8extended(n, salt + 8)) % 8) AS middle_i,
           (abs(hashint8extended(n, salt + 9)) % 10) AS word1_i,
           (abs(hashint8extended(n, salt + 10)) % 10) AS word2_i
    FROM base AS b
), people AS (
    SELECT n.*,
           (ARRAY['Иванов','Смирнов','Кузнецов','Попов','Васильев','Петров','Соколов','Михайлов','Новиков','Фёдоров',
                  'Морозов','Волков','Алексеев','Лебедев','Семёнов','Егоров','Павлов','Козлов','Степанов','Николаев'])[last_i + 1]
               AS ru_last,
           (ARRAY['ivanov','smirnov','kuznetsov','popov','vasiliev','petrov','sokolov','mikhailov','novikov','fedorov',
                  'morozov','volkov','alekseev','lebedev','semenov','egorov','pavlov','kozlov','stepanov','nikolaev'])[last_i + 1]
               AS ru_last_latin,
           (ARRAY['Smith','Johnson','Williams','Brown','Jones','Miller','Davis','Wilson','Taylor','Clark','Walker','Hall'])[last_i + 1]
               AS en_last,
           CASE WHEN female
               THEN (ARRAY['Анна','Мария','Елена','Ольга','Наталья','Екатерина','Татьяна','Ирина','Светлана','Юлия'])[first_i + 1]
               ELSE (ARRAY['Александр','Дмитрий','Максим','Сергей','Андрей','Алексей','Артём','Илья','Кирилл','Михаил'])[first_i + 1]
           END AS ru_first,
           CASE WHEN female
               THEN (ARRAY['anna','maria','elena','olga','natalia','ekaterina','tatiana','irina','svetlana','yulia'])[first_i + 1]
               ELSE (ARRAY['alexander','dmitry','maxim','sergey','andrey','alexey','artem','ilya','kirill','mikhail'])[first_i + 1]
           END AS ru_first_latin,
           CASE WHEN female
               THEN (ARRAY['Mary','Patricia','Jennifer','Linda','Elizabeth','Susan','Jessica','Sarah','Karen','Emily'])[first_i + 1]
               ELSE (ARRAY['James','John','Robert','Michael','William','David','Richard','Thomas','Daniel','Paul'])[first_i + 1]
           END AS en_first,
           CASE WHEN female
               THEN (ARRAY['Александровна','Дмитриевна','Сергеевна','Андреевна','Алексеевна','Михайловна','Ивановна','Петровна'])[middle_i + 1]
               ELSE (ARRAY['Александрович','Дмитриевич','Сергеевич','Андреевич','Алексеевич','Михайлович','Иванович','Петрович'])[middle_i + 1]
           END AS ru_middle,
           CASE WHEN russian
               THEN (ARRAY['Альфа','Вектор','Гранит','Омега','Север','Восход','Меридиан','Прогресс','Техно','Волга'])[word1_i + 1]
                    || (ARRAY['строй','торг','сервис','пром','снаб','трейд','маркет','логистик','инвест','софт'])[word2_i + 1]
               ELSE (ARRAY['Northwind','Contoso','Globex','Initech','Umbrella','Acme','Stark','Wayne','Tyrell','Cyberdyne'])[word1_i + 1]
                    || ' ' || (ARRAY['Trading','Logistics','Foods','Systems','Retail','Holdings','Labs','Supply','Partners','Group'])[word2_i + 1]
           END AS company
    FROM named AS n
), shaped AS (
    SELECT p.*,
           md5('client' || ':' || $2::text || ':' || n::text)::uuid AS id,
           CASE WHEN is_company THEN NULL WHEN russian THEN ru_last || CASE WHEN female THEN 'а' ELSE '' END ELSE en_last END
               AS last_name,
           CASE WHEN is_company THEN NULL WHEN russian THEN ru_first ELSE en_first END AS first_name,
           CASE WHEN is_company OR NOT russian THEN NULL ELSE ru_middle END AS middle_name,
           CASE WHEN is_company THEN company || ' ' || n END AS company_name,
           CASE WHEN is_company THEN lower(regexp_replace(CASE WHEN russian THEN 'company' ELSE company END, '\W', '', 'g')) || n || '@corp.example'
                WHEN russian THEN ru_first_latin || '.' || ru_last_latin || CASE WHEN female THEN 'a' ELSE '' END || n || '@mail.example'
                ELSE lower(en_first) || '.' || lower(en_last) || n || '@mail.example'
           END AS email,
           '+79' || lpad(((n * 7919 + $2) % 1000000000)::text, 9, '0') AS phone
    FROM people AS p
), finished AS (
    SELECT s.*,
           CASE WHEN is_company THEN company_name
                ELSE concat_ws(' ', last_name, first_name, middle_name) END AS display_name,
           ($5::uuid[])[1 + (abs(hashint8extended(n, salt + 11)) % (array_length($5::uuid[], 1)))] AS owner_id,
           created_at + make_interval(days => (abs(hashint8extended(n, salt + 12)) % 30)::int) AS touched_at
    FROM shaped AS s
)
INSERT INTO clients (workspace_id, id, kind, display_name, last_name, first_name, middle_name, gender, name,
                     legal_name, tax_id, relationship, lifecycle_stage, lifecycle_set_by_hand, source, owner_id, emails, phones, email_keys,
                     phone_keys, tags, search_text, version, created_at, updated_at, created_by, updated_by)
SELECT $1, id,
       CASE WHEN is_company THEN 'company' ELSE 'person' END,
       display_name, last_name, first_name, middle_name,
       CASE WHEN is_company THEN NULL WHEN female THEN 'female' ELSE 'male' END,
       company_name,
       CASE WHEN is_company AND russian THEN 'ООО «' || company_name || '»' END,
       CASE WHEN is_company THEN lpad((1000000000 + n)::text, 10, '0') END,
       (ARRAY['customer','customer','customer','customer','customer','prospect','prospect','prospect','partner','supplier'])[1 + abs(hashint8extended(n, salt + 13)) % 10],
       (ARRAY['lead','prospect','customer','customer','loyal','churned'])[1 + abs(hashint8extended(n, salt + 14)) % 6],
       -- A stage other than `lead` stands for one a user set, as the migration that made stages move
       -- by themselves counts it: the first stats refresh doesn't rewrite the seeded base.
       abs(hashint8extended(n, salt + 14)) % 6 <> 0,
       (ARRAY['website','pos','mobile_app','event','paper_form','phone','email','referral','import'])[1 + abs(hashint8extended(n, salt + 15)) % 9],
       owner_id,
       jsonb_build_array(jsonb_build_object('value', email, 'primary', true)),
       jsonb_build_array(jsonb_build_object('value', phone, 'primary', true)),
       ARRAY[lower(email)], ARRAY[phone],
       CASE (abs(hashint8extended(n, salt + 16)) % 8)
           WHEN 2 THEN ARRAY['vip'] WHEN 3 THEN ARRAY['wholesale'] WHEN 4 THEN ARRAY['retail']
           WHEN 5 THEN ARRAY['newsletter'] WHEN 6 THEN ARRAY['vip', 'newsletter'] WHEN 7 THEN ARRAY['b2b', 'wholesale']
           ELSE ARRAY[]::text[]
       END,
       lower(concat_ws(' ', display_name, CASE WHEN is_company AND russian THEN 'ООО «' || company_name || '»' END, email, phone)),
       1 + (abs(hashint8extended(n, salt + 17)) % 4)::int,
       created_at, touched_at, owner_id, owner_id
FROM finished
